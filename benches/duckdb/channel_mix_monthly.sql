-- DuckDB port of queries/channel_mix_monthly.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Channel mix: interactions, share of the month's interactions, amount and
-- cost to serve per channel, by tier (the customer's tier that month) and for
-- all tiers ('All'). Interactions of customers without a month-end balance
-- (closing) are 'Unassigned'. cost = interactions x channel_costs.unit_cost.
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
SELECT b.period,
       b.tier,
       b.channel,
       COUNT(*) AS interactions,
       CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (PARTITION BY b.period, b.tier) AS share,
       SUM(b.amount) AS amount,
       MAX(c.unit_cost) AS unit_cost,
       COUNT(*) * MAX(c.unit_cost) AS cost_to_serve
FROM both_levels b
LEFT JOIN channel_costs c ON c.channel = b.channel
GROUP BY b.period, b.tier, b.channel
