-- DuckDB port of queries/branch_network.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- The branch network per month: each branch's waits (branch_service) and
-- the satisfaction of branch-channel survey responses from customers whose
-- home branch it is, ranked within the branch's region
-- (wait_rank 1 = shortest p90 wait; csat_rank 1 = highest CSAT).
WITH sat AS (
    SELECT s.period,
           c.home_branch AS branch_id,
           COUNT(*) AS responses,
           CAST(SUM(CASE WHEN s.csat >= 4 THEN 1 ELSE 0 END) AS DOUBLE) / NULLIF(COUNT(s.csat), 0) AS csat,
           100.0 * (CAST(SUM(CASE WHEN s.nps >= 9 THEN 1 ELSE 0 END) AS DOUBLE)
                  - CAST(SUM(CASE WHEN s.nps <= 6 THEN 1 ELSE 0 END) AS DOUBLE)) / NULLIF(COUNT(s.nps), 0) AS nps
    FROM surveys s
    JOIN customers c ON c.customer_id = s.customer_id
    WHERE s.channel = 'branch'
    GROUP BY s.period, c.home_branch
)
SELECT b.period,
       r.region,
       b.branch_id,
       r.branch_name,
       b.visits,
       b.median_wait,
       b.p90_wait,
       b.share_over_30,
       COALESCE(sat.responses, 0) AS responses,
       sat.csat,
       sat.nps,
       RANK() OVER (PARTITION BY b.period, r.region ORDER BY b.p90_wait ASC) AS wait_rank,
       RANK() OVER (PARTITION BY b.period, r.region ORDER BY sat.csat DESC NULLS LAST) AS csat_rank
FROM branch_service b
JOIN branches r ON r.branch_id = b.branch_id
LEFT JOIN sat ON sat.period = b.period AND sat.branch_id = b.branch_id
