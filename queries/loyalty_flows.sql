-- Flows along seed 001's loyalty ladder: people per month by last month's
-- stage and this month's, prospects (prospect_ladder) and customers
-- (loyalty_ladder) alike: a lead who opened an account moves from
-- `qualified_prospect` to a customer stage. `new` = not on the ladder last
-- month; `left` = on it last month and not this month (the account closed,
-- or a lead was dropped). `from_order` / `to_order` follow the ladder
-- (loyalty_funnel's stage_order; `new` 0, `left` 8).
--
-- Months are paired by aggregation rather than a self-join, so memory stays
-- bounded (an aggregate spills; a hash join's build side cannot): each row
-- is listed as itself and, a month on, as the next month's "before", then
-- grouped by customer and month. Stages travel as small numbers (decoded
-- at the end) because grouping numbers is several times faster than
-- taking the MAX of strings.
WITH codes AS (
    SELECT stage, ROW_NUMBER() OVER (ORDER BY stage) AS code
    FROM (SELECT DISTINCT stage FROM loyalty_ladder UNION SELECT DISTINCT stage FROM prospect_ladder) s
),
ladder AS (
    SELECT customer_id AS party_id, period, stage FROM loyalty_ladder
    UNION ALL
    SELECT party_id, period, stage FROM prospect_ladder
),
l AS (
    SELECT x.party_id, x.period, c.code,
           CAST(substr(x.period, 1, 4) AS BIGINT) * 12 + CAST(substr(x.period, 6, 2) AS BIGINT) AS month_index
    FROM ladder x
    JOIN codes c ON c.stage = x.stage
),
months AS (SELECT DISTINCT month_index, period FROM l),
shifted AS (
    SELECT party_id, month_index, CAST(NULL AS BIGINT) AS from_code, code AS to_code FROM l
    UNION ALL
    SELECT party_id, month_index + 1, code, NULL FROM l
),
flows AS (
    SELECT month_index, from_code, to_code, COUNT(*) AS customers
    FROM (
        SELECT party_id, month_index, MAX(from_code) AS from_code, MAX(to_code) AS to_code
        FROM shifted
        GROUP BY party_id, month_index
    ) paired
    GROUP BY month_index, from_code, to_code
)
SELECT cur.period,
       COALESCE(f.stage, 'new') AS from_stage,
       COALESCE(t.stage, 'left') AS to_stage,
       flows.customers AS people,
       CASE COALESCE(f.stage, 'new') WHEN 'new' THEN 0 WHEN 'non_customer' THEN 1 WHEN 'possible' THEN 2
            WHEN 'qualified_prospect' THEN 3 WHEN 'first_time' THEN 4 WHEN 'repeat' THEN 5
            WHEN 'advocate' THEN 6 ELSE 7 END AS from_order,
       CASE COALESCE(t.stage, 'left') WHEN 'non_customer' THEN 1 WHEN 'possible' THEN 2
            WHEN 'qualified_prospect' THEN 3 WHEN 'first_time' THEN 4 WHEN 'repeat' THEN 5
            WHEN 'advocate' THEN 6 WHEN 'dormant' THEN 7 ELSE 8 END AS to_order
FROM flows
JOIN months cur ON cur.month_index = flows.month_index
JOIN months pm ON pm.month_index = flows.month_index - 1
LEFT JOIN codes t ON t.code = flows.to_code
LEFT JOIN codes f ON f.code = flows.from_code
