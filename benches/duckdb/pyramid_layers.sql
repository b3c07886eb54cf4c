-- DuckDB port of queries/pyramid_layers.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_date(text) -> CAST(text AS DATE)
-- Seed 001's whole customer pyramid per month, top to bottom:
--   the value tiers (tier_rules) of the customers with a balance at the
--               month's end, as in segment_pyramid, except those counted as
--   Inactive    open with no interaction for ladder_rules.inactive_months
--               months (loyalty_ladder.silent_months; needs that many loaded
--               months to show), or closed by the month's end (closed_date)
--   Prospect    a lead from another line of the bank or contacted by the
--               sales team, not yet a customer (prospect_ladder)
--   Suspect     a lead never contacted
-- Leads assessed as without the need or the means (non_customer) are not in
-- the pyramid. `people` per layer, `share` of everyone in it that month, and
-- the layer's relationship balance (customers with a balance only).
WITH lowest AS (SELECT MAX(tier_rank) AS rank FROM tier_rules),
months AS (
    SELECT period, CAST(CAST(period || '-01' AS DATE) + INTERVAL '1 month' AS DATE) AS next_first
    FROM (SELECT DISTINCT period FROM loyalty_ladder) p
),
layers AS (
    SELECT l.period,
           CASE WHEN l.silent_months >= r.inactive_months THEN 'Inactive' ELSE l.tier END AS layer,
           CASE WHEN l.silent_months >= r.inactive_months THEN w.rank + 1 ELSE l.tier_rank END AS layer_rank,
           l.relationship_balance
    FROM loyalty_ladder l
    CROSS JOIN ladder_rules r
    CROSS JOIN lowest w
    UNION ALL
    SELECT m.period, 'Inactive', w.rank + 1, NULL
    -- The one-row side first: a cross join emits a batch per row of its
    -- first side (one per closed customer and month the other way round).
    FROM lowest w
    CROSS JOIN customers c
    JOIN months m ON c.closed_date < m.next_first
    UNION ALL
    SELECT p.period, p.layer, w.rank + CASE p.layer WHEN 'Prospect' THEN 2 ELSE 3 END, NULL
    FROM prospect_ladder p
    CROSS JOIN lowest w
    WHERE p.stage <> 'non_customer'
)
SELECT period,
       layer,
       layer_rank,
       COUNT(*) AS people,
       CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (PARTITION BY period) AS share,
       SUM(relationship_balance) AS relationship_balance
FROM layers
GROUP BY period, layer, layer_rank
