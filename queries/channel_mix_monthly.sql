-- Channel mix: interactions, share of the month's interactions, amount and
-- cost to serve per channel, by tier (the customer's tier that month) and for
-- all tiers ('All'). Interactions of customers without a month-end balance
-- (closing) are 'Unassigned'. cost = interactions x channel_costs.unit_cost.
WITH t AS (
    SELECT i.period, COALESCE(cm.tier, 'Unassigned') AS tier, i.channel, i.amount
    FROM interactions i
    LEFT JOIN customer_month cm ON cm.customer_id = i.customer_id AND cm.period = i.period
),
per_tier AS (
    SELECT period, tier, channel, COUNT(*) AS interactions, SUM(amount) AS amount
    FROM t
    GROUP BY period, tier, channel
),
-- Each tier's few rows again as 'All', by a cross join with two rows: `t`
-- referenced twice would be computed twice (every interaction read and
-- joined again).
both_levels AS (
    SELECT p.period, CASE WHEN l.all_tiers THEN 'All' ELSE p.tier END AS tier, p.channel,
           SUM(p.interactions) AS interactions,
           -- the type a SUM over the interactions' amounts gives
           CAST(SUM(p.amount) AS DECIMAL(28, 2)) AS amount
    FROM per_tier p CROSS JOIN (VALUES (false), (true)) AS l(all_tiers)
    GROUP BY p.period, CASE WHEN l.all_tiers THEN 'All' ELSE p.tier END, p.channel
)
SELECT b.period,
       b.tier,
       b.channel,
       b.interactions,
       CAST(b.interactions AS DOUBLE) / SUM(b.interactions) OVER (PARTITION BY b.period, b.tier) AS share,
       b.amount,
       c.unit_cost,
       b.interactions * c.unit_cost AS cost_to_serve
FROM both_levels b
LEFT JOIN (SELECT channel, MAX(unit_cost) AS unit_cost FROM channel_costs GROUP BY channel) c
       ON c.channel = b.channel
