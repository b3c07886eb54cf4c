-- DuckDB port of queries/churn_by_tier.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Where churn risk is concentrated: per month and tier, customers, how many
-- are in the high band, mean modelled probability (churn_risk.score) and
-- balance at risk (sum of balance x probability).
SELECT period,
       tier,
       tier_rank,
       COUNT(*) AS customers,
       SUM(CASE WHEN band = 'high' THEN 1 ELSE 0 END) AS high_risk,
       CAST(SUM(CASE WHEN band = 'high' THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS high_risk_share,
       AVG(score) AS avg_score,
       SUM(balance_at_risk) AS balance_at_risk
FROM churn_risk
GROUP BY period, tier, tier_rank
