-- Main-channel migration: a customer's main channel in a month is the one with
-- the most interactions (ties: digital first: online, atm, call_centre, branch).
-- Per month, customers by last month's and this month's main channel;
-- `branch_to_digital` marks the moves from branch to online or ATM.
--
-- Written as two aggregates and no join, so memory stays bounded (aggregates
-- spill; a hash join's build side cannot): the main channel comes from
-- per-channel counts (interactions has exactly these four channels), and
-- each month meets the month before by listing every row twice, once a
-- month on, and grouping by customer and month. Channels travel as numbers
-- until the end: grouping numbers is much faster than MAX over strings.
WITH counts AS (
    SELECT customer_id, period,
           SUM(CASE WHEN channel = 'online' THEN 1 ELSE 0 END) AS online,
           SUM(CASE WHEN channel = 'atm' THEN 1 ELSE 0 END) AS atm,
           SUM(CASE WHEN channel = 'call_centre' THEN 1 ELSE 0 END) AS call_centre,
           SUM(CASE WHEN channel NOT IN ('online', 'atm', 'call_centre') THEN 1 ELSE 0 END) AS branch
    FROM interactions
    GROUP BY customer_id, period
),
main AS (
    -- 1 online, 2 atm, 3 call_centre, 4 branch: the tie order
    SELECT customer_id, period,
           CASE greatest(online, atm, call_centre, branch)
                WHEN online THEN 1 WHEN atm THEN 2 WHEN call_centre THEN 3 ELSE 4 END AS channel,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM counts
),
-- Each row as itself (k = 0) and a month on (k = 1) by a cross join with two
-- rows: `main` referenced twice would be computed twice by DataFusion (every
-- interaction read and counted again).
shifted AS (
    SELECT m.customer_id, m.month_index + s.k AS month_index,
           CASE WHEN s.k = 1 THEN m.channel END AS from_code,
           CASE WHEN s.k = 0 THEN m.channel END AS to_code
    FROM main m CROSS JOIN (VALUES (0), (1)) AS s(k)
),
moves AS (
    SELECT month_index, from_code, to_code, COUNT(*) AS customers
    FROM (
        SELECT customer_id, month_index, MAX(from_code) AS from_code, MAX(to_code) AS to_code
        FROM shifted
        GROUP BY customer_id, month_index
    ) paired
    WHERE from_code IS NOT NULL AND to_code IS NOT NULL
    GROUP BY month_index, from_code, to_code
),
named AS (
    -- the month back to its YYYY-MM period (a month with moves has a row
    -- of its own, so it is one of the months read)
    SELECT concat(CAST((month_index - 1) / 12 AS VARCHAR), '-',
                  lpad(CAST((month_index - 1) % 12 + 1 AS VARCHAR), 2, '0')) AS period,
           CASE from_code WHEN 1 THEN 'online' WHEN 2 THEN 'atm' WHEN 3 THEN 'call_centre' ELSE 'branch' END AS from_channel,
           CASE to_code WHEN 1 THEN 'online' WHEN 2 THEN 'atm' WHEN 3 THEN 'call_centre' ELSE 'branch' END AS to_channel,
           customers
    FROM moves
)
SELECT period,
       from_channel,
       to_channel,
       customers,
       from_channel = 'branch' AND to_channel IN ('online', 'atm') AS branch_to_digital
FROM named
