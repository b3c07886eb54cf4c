-- The customers most likely to close their accounts in the next 3 months, in
-- one tier and month, with the model's reasons.
-- Parameters: $tier (e.g. Premier), $period (YYYY-MM)
--   touchpoint query --file queries/adhoc/top_at_risk.sql --param tier=Premier --param period=2024-12
SELECT customer_id, tier, score, band, reason_1, reason_2, reason_3, balance_at_risk
FROM churn_risk
WHERE tier = $tier AND period = $period
ORDER BY score DESC, customer_id
LIMIT 20
