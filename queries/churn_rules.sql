-- A transparent churn-risk score, 0..1, as the sum of four point rules
-- (100 points = 1.0). Every point has a reason a relationship manager can read:
--   activity   30 if silent this month after activity in the prior 3 months,
--              20 if below half the prior 3-month average (needs 2+ prior months)
--   outflow    30 if relationship balance fell > 20% against 3 months ago, 15 if > 10%
--   complaints 10 per complaint in the last 3 months, at most 20
--   unhappy    20 if mean CSAT over the last 3 months <= 2, 10 if below 3
-- band: high >= 0.5, medium >= 0.25; balance_at_risk = balance x score.
WITH f AS (
    SELECT customer_id, period, tier, tier_rank, relationship_balance, interactions,
           AVG(CAST(interactions AS DOUBLE)) OVER w3 AS prior_activity,
           COUNT(*) OVER w3 AS prior_months,
           LAG(relationship_balance, 3) OVER (PARTITION BY customer_id ORDER BY period) AS balance_3m_ago,
           SUM(complaints) OVER (PARTITION BY customer_id ORDER BY period ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS complaints_3m,
           AVG(avg_csat) OVER (PARTITION BY customer_id ORDER BY period ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS csat_3m
    FROM customer_month
    WINDOW w3 AS (PARTITION BY customer_id ORDER BY period ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING)
),
p AS (
    SELECT *,
           CASE WHEN prior_months >= 2 AND interactions = 0 AND prior_activity > 0 THEN 30
                WHEN prior_months >= 2 AND interactions < 0.5 * prior_activity THEN 20
                ELSE 0 END AS pts_activity,
           CASE WHEN balance_3m_ago > 0 AND relationship_balance < balance_3m_ago * 0.8 THEN 30
                WHEN balance_3m_ago > 0 AND relationship_balance < balance_3m_ago * 0.9 THEN 15
                ELSE 0 END AS pts_outflow,
           CASE WHEN complaints_3m >= 2 THEN 20 WHEN complaints_3m = 1 THEN 10 ELSE 0 END AS pts_complaints,
           CASE WHEN csat_3m <= 2 THEN 20 WHEN csat_3m < 3 THEN 10 ELSE 0 END AS pts_unhappy
    FROM f
),
s AS (
    SELECT *, (pts_activity + pts_outflow + pts_complaints + pts_unhappy) AS points FROM p
)
SELECT customer_id,
       period,
       tier,
       tier_rank,
       relationship_balance,
       points,
       points / 100.0 AS score,
       CASE WHEN points >= 50 THEN 'high' WHEN points >= 25 THEN 'medium' ELSE 'low' END AS band,
       pts_activity,
       pts_outflow,
       pts_complaints,
       pts_unhappy,
       concat_ws('; ',
           CASE WHEN pts_activity > 0 THEN 'activity down' END,
           CASE WHEN pts_outflow > 0 THEN 'balance outflow' END,
           CASE WHEN pts_complaints > 0 THEN 'recent complaints' END,
           CASE WHEN pts_unhappy > 0 THEN 'low satisfaction' END) AS reasons,
       -- exact: money stays decimal so sums do not depend on row order
       CAST(relationship_balance * CAST(points AS DECIMAL(3, 0)) / 100 AS DECIMAL(22, 4)) AS balance_at_risk
FROM s
