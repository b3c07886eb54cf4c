-- DuckDB port of queries/loyalty_flows.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
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
-- grouped by customer and month. Stages travel as their ladder order (1-7)
-- because grouping numbers is several times faster than taking the MAX of
-- strings; they are coded by CASE, not by a join with a table of codes,
-- which DataFusion built on the 3M rows of the ladders at 1M customers.
-- Both ladders check that every stage is one of these.
WITH l AS (
    SELECT party_id,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index,
           period,
           CASE stage WHEN 'non_customer' THEN 1 WHEN 'possible' THEN 2 WHEN 'qualified_prospect' THEN 3
                WHEN 'first_time' THEN 4 WHEN 'repeat' THEN 5 WHEN 'advocate' THEN 6 WHEN 'dormant' THEN 7
           END AS code
    FROM (
        SELECT customer_id AS party_id, period, stage FROM loyalty_ladder
        UNION ALL
        SELECT party_id, period, stage FROM prospect_ladder
    ) x
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
),
named AS (
    SELECT month_index, customers,
           COALESCE(from_code, 0) AS from_order,
           COALESCE(to_code, 8) AS to_order
    FROM flows
)
SELECT cur.period,
       CASE from_order WHEN 0 THEN 'new' WHEN 1 THEN 'non_customer' WHEN 2 THEN 'possible'
            WHEN 3 THEN 'qualified_prospect' WHEN 4 THEN 'first_time' WHEN 5 THEN 'repeat'
            WHEN 6 THEN 'advocate' ELSE 'dormant' END AS from_stage,
       CASE to_order WHEN 1 THEN 'non_customer' WHEN 2 THEN 'possible' WHEN 3 THEN 'qualified_prospect'
            WHEN 4 THEN 'first_time' WHEN 5 THEN 'repeat' WHEN 6 THEN 'advocate' WHEN 7 THEN 'dormant'
            ELSE 'left' END AS to_stage,
       n.customers AS people,
       n.from_order,
       n.to_order
FROM named n
JOIN months cur ON cur.month_index = n.month_index
JOIN months pm ON pm.month_index = n.month_index - 1
