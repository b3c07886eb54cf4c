-- DuckDB port of queries/segment_pyramid.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- The value pyramid: customers, share and relationship balance per tier and month.
SELECT period,
       tier,
       tier_rank,
       COUNT(*) AS customers,
       CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (PARTITION BY period) AS share,
       SUM(relationship_balance) AS total_balance,
       CAST(SUM(relationship_balance) AS DOUBLE) / COUNT(*) AS avg_balance
FROM customer_month
GROUP BY period, tier, tier_rank
