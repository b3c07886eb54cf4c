-- Channel mix: interactions, share of the month's interactions and amount per
-- channel, by tier (the customer's tier that month) and for all tiers ('All').
-- Interactions of customers without a month-end balance (closing) are 'Unassigned'.
WITH t AS (
    SELECT i.period, COALESCE(cm.tier, 'Unassigned') AS tier, i.channel, i.amount
    FROM interactions i
    LEFT JOIN customer_month cm ON cm.customer_id = i.customer_id AND cm.period = i.period
),
both_levels AS (
    SELECT period, tier, channel, amount FROM t
    UNION ALL
    SELECT period, 'All' AS tier, channel, amount FROM t
)
SELECT period,
       tier,
       channel,
       COUNT(*) AS interactions,
       CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (PARTITION BY period, tier) AS share,
       SUM(amount) AS amount
FROM both_levels
GROUP BY period, tier, channel
