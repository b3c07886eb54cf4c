-- DuckDB port of queries/customer_profit.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Profit of each customer each month (seed 001: high-, ordinary- and
-- negative-profit customers within a tier):
--   margin        = the month's twelfth of the annual margin on balances
--                   (customer_month.annual_margin, balances x product_margins)
--   cost_to_serve = the month's interactions per channel x channel_costs.unit_cost
--   profit        = margin - cost_to_serve
-- profit_group: 'negative' below 0, 'high' from the tier's high_from in
-- profit_thresholds, 'ordinary' between; a tier without a threshold has no
-- high group. Money stays decimal so sums are exact in any order.
-- A channel with interactions but no unit cost leaves cost and profit null,
-- which the model's not_null check turns into a failed run, not a free channel.
WITH cost AS (
    SELECT MAX(CASE WHEN channel = 'atm' THEN unit_cost END) AS atm,
           MAX(CASE WHEN channel = 'branch' THEN unit_cost END) AS branch,
           MAX(CASE WHEN channel = 'online' THEN unit_cost END) AS online,
           MAX(CASE WHEN channel = 'call_centre' THEN unit_cost END) AS call
    FROM channel_costs
),
p AS (
    SELECT cm.customer_id, cm.period, cm.tier, cm.tier_rank,
           CAST(cm.annual_margin AS DECIMAL(38, 10)) / 12 AS margin,
           CASE WHEN cm.atm_interactions = 0 THEN 0 ELSE cm.atm_interactions * c.atm END
         + CASE WHEN cm.branch_interactions = 0 THEN 0 ELSE cm.branch_interactions * c.branch END
         + CASE WHEN cm.online_interactions = 0 THEN 0 ELSE cm.online_interactions * c.online END
         + CASE WHEN cm.call_interactions = 0 THEN 0 ELSE cm.call_interactions * c.call END AS cost_to_serve,
           cm.interactions,
           cm.branch_interactions,
           cm.call_interactions,
           cm.atm_interactions + cm.online_interactions AS digital_interactions
    FROM customer_month cm
    CROSS JOIN cost c
)
SELECT p.customer_id,
       p.period,
       p.tier,
       p.tier_rank,
       p.margin,
       p.cost_to_serve,
       p.margin - p.cost_to_serve AS profit,
       CASE WHEN p.margin - p.cost_to_serve < 0 THEN 'negative'
            WHEN p.margin - p.cost_to_serve >= t.high_from THEN 'high'
            WHEN p.margin - p.cost_to_serve IS NOT NULL THEN 'ordinary'
       END AS profit_group,
       p.interactions,
       p.branch_interactions,
       p.call_interactions,
       p.digital_interactions
FROM p
LEFT JOIN profit_thresholds t ON t.tier = p.tier
