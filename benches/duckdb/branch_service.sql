-- DuckDB port of queries/branch_service.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: percentile_exact(x, p) (touchpoint's exact interpolating percentile) -> quantile_cont(x, p)
-- Branch service per month and branch ('ALL' = the network): visits, median
-- and 90th-percentile wait (ticket issued -> called), share waiting over 30
-- minutes, median service time (called -> served). Minutes; percentiles are
-- exact (linear interpolation between ranks; percentile_exact, not
-- DataFusion 55's percentile_cont, which truncates the weight: #25266).
WITH v AS (
    SELECT period, branch_id,
           (date_part('epoch', called_at) - date_part('epoch', issued_at)) / 60.0 AS wait_minutes,
           (date_part('epoch', served_at) - date_part('epoch', called_at)) / 60.0 AS service_minutes
    FROM branch_visits
    WHERE called_at IS NOT NULL
),
both_levels AS (
    SELECT period, branch_id, wait_minutes, service_minutes FROM v
    UNION ALL
    SELECT period, 'ALL' AS branch_id, wait_minutes, service_minutes FROM v
)
SELECT period,
       branch_id,
       COUNT(*) AS visits,
       median(wait_minutes) AS median_wait,
       quantile_cont(wait_minutes, 0.9) AS p90_wait,
       AVG(CASE WHEN wait_minutes > 30 THEN 1.0 ELSE 0.0 END) AS share_over_30,
       median(service_minutes) AS median_service
FROM both_levels
GROUP BY period, branch_id
