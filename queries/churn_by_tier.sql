-- Where churn risk is concentrated: per month and tier, customers, how many
-- are in the high band, mean score and balance at risk.
SELECT period,
       tier,
       tier_rank,
       COUNT(*) AS customers,
       SUM(CASE WHEN band = 'high' THEN 1 ELSE 0 END) AS high_risk,
       CAST(SUM(CASE WHEN band = 'high' THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS high_risk_share,
       AVG(points) / 100.0 AS avg_score,
       SUM(balance_at_risk) AS balance_at_risk
FROM churn_risk
GROUP BY period, tier, tier_rank
