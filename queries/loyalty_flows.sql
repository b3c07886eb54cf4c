-- Flows between loyalty stages: customers per month by last month's stage
-- and this month's ('new' = not on the ladder last month).
--
-- Months are paired by aggregation rather than a self-join, so memory stays
-- bounded (an aggregate spills; a hash join's build side cannot): each row
-- is listed as itself and, a month on, as the next month's "before", then
-- grouped by customer and month. Stages travel as small numbers (decoded
-- at the end) because grouping numbers is several times faster than
-- taking the MAX of strings.
WITH codes AS (
    SELECT stage, ROW_NUMBER() OVER (ORDER BY stage) AS code
    FROM (SELECT DISTINCT stage FROM loyalty_ladder) s
),
l AS (
    SELECT x.customer_id, x.period, c.code,
           CAST(substr(x.period, 1, 4) AS BIGINT) * 12 + CAST(substr(x.period, 6, 2) AS BIGINT) AS month_index
    FROM loyalty_ladder x
    JOIN codes c ON c.stage = x.stage
),
months AS (SELECT DISTINCT month_index, period FROM l),
shifted AS (
    SELECT customer_id, month_index, CAST(NULL AS BIGINT) AS from_code, code AS to_code FROM l
    UNION ALL
    SELECT customer_id, month_index + 1, code, NULL FROM l
),
flows AS (
    SELECT month_index, from_code, to_code, COUNT(*) AS customers
    FROM (
        SELECT customer_id, month_index, MAX(from_code) AS from_code, MAX(to_code) AS to_code
        FROM shifted
        GROUP BY customer_id, month_index
    ) paired
    WHERE to_code IS NOT NULL
    GROUP BY month_index, from_code, to_code
)
SELECT cur.period,
       COALESCE(f.stage, 'new') AS from_stage,
       t.stage AS to_stage,
       flows.customers
FROM flows
JOIN months cur ON cur.month_index = flows.month_index
JOIN months pm ON pm.month_index = flows.month_index - 1
JOIN codes t ON t.code = flows.to_code
LEFT JOIN codes f ON f.code = flows.from_code
