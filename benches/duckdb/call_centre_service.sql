-- DuckDB port of queries/call_centre_service.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: percentile_exact(x, p) (touchpoint's exact interpolating percentile) -> quantile_cont(x, p)
-- Call-centre service per month:
--   calls, median and 90th-percentile queue time (minutes, exact)
--   abandonment       share of calls abandoned in the queue
--   first_contact_resolution  share of answered calls (not abandoned) resolved
--                     with no further call from the customer within 7 days
--   mean_handle       mean handle time of answered calls (minutes)
--   transferred, transfer_rate  answered calls passed on to another team,
--                     and their share of answered calls
WITH c AS (
    SELECT period, customer_id, call_start, queue_seconds, handle_seconds, outcome,
           LEAD(call_start) OVER (PARTITION BY customer_id ORDER BY call_start) AS next_call
    FROM calls
)
SELECT period,
       COUNT(*) AS calls,
       median(queue_seconds / 60.0) AS median_queue,
       quantile_cont(queue_seconds / 60.0, 0.9) AS p90_queue,
       AVG(CASE WHEN outcome = 'abandoned' THEN 1.0 ELSE 0.0 END) AS abandonment,
       CAST(SUM(CASE WHEN outcome = 'resolved'
                      AND (next_call IS NULL OR next_call > call_start + INTERVAL '7 days') THEN 1 ELSE 0 END) AS DOUBLE)
           / NULLIF(SUM(CASE WHEN outcome <> 'abandoned' THEN 1 ELSE 0 END), 0) AS first_contact_resolution,
       -- Whole seconds averaged, then minutes: a sum of integers is exact in
       -- any order, so the mean does not change in its last bits with the
       -- order the rows arrive in (minutes summed did, run to run).
       AVG(CASE WHEN outcome <> 'abandoned' THEN handle_seconds END) / 60.0 AS mean_handle,
       SUM(CASE WHEN outcome = 'transferred' THEN 1 ELSE 0 END) AS transferred,
       CAST(SUM(CASE WHEN outcome = 'transferred' THEN 1 ELSE 0 END) AS DOUBLE)
           / NULLIF(SUM(CASE WHEN outcome <> 'abandoned' THEN 1 ELSE 0 END), 0) AS transfer_rate
FROM c
GROUP BY period
