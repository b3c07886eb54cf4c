-- Flows between loyalty stages: customers per month by last month's stage
-- and this month's ('new' = not on the ladder last month).
WITH l AS (
    SELECT customer_id, period, stage,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM loyalty_ladder
),
months AS (SELECT DISTINCT month_index FROM l)
SELECT cur.period,
       COALESCE(prev.stage, 'new') AS from_stage,
       cur.stage AS to_stage,
       COUNT(*) AS customers
FROM l cur
JOIN months pm ON pm.month_index = cur.month_index - 1
LEFT JOIN l prev ON prev.customer_id = cur.customer_id AND prev.month_index = cur.month_index - 1
GROUP BY cur.period, COALESCE(prev.stage, 'new'), cur.stage
