-- Online banking per month and channel (web, mobile, messaging; 'All' =
-- every session):
--   sessions, customers, session_share of the month's sessions
--   failed_sessions         sessions with at least one failure
--   failure_rate            failed_sessions / sessions
--   failures_per_100_actions  failures per 100 actions (attempted steps)
--   transaction_rate        share of sessions with a transaction
--
-- Distinct customers come from spilling aggregates per (month, channel,
-- customer) and per (month, customer) - the second is 'All' - counted again
-- per channel: COUNT(DISTINCT) cannot spill, and at 100k customers it outgrew
-- the 512 MB pool. Two aggregates, each reading the sessions, not GROUPING
-- SETS, which copy every session once per set into one larger grouping
-- (2.4 s against 2.76 s at 100k customers x 12 months, same rows).
WITH s AS (
    SELECT period, COALESCE(channel, 'unknown') AS channel, customer_id, actions, transactions, failures
    FROM online_sessions
),
pairs AS (
    SELECT period, channel, customer_id,
           COUNT(*) AS sessions,
           SUM(CASE WHEN failures > 0 THEN 1 ELSE 0 END) AS failed_sessions,
           SUM(failures) AS failures,
           SUM(actions) AS actions,
           SUM(CASE WHEN transactions > 0 THEN 1 ELSE 0 END) AS transacting
    FROM s
    GROUP BY period, channel, customer_id
    UNION ALL
    SELECT period, CAST(NULL AS VARCHAR), customer_id,
           COUNT(*),
           SUM(CASE WHEN failures > 0 THEN 1 ELSE 0 END),
           SUM(failures),
           SUM(actions),
           SUM(CASE WHEN transactions > 0 THEN 1 ELSE 0 END)
    FROM s
    GROUP BY period, customer_id
),
per_channel AS (
    SELECT period, COALESCE(channel, 'All') AS channel,
           SUM(sessions) AS sessions,
           COUNT(customer_id) AS customers,
           SUM(failed_sessions) AS failed_sessions,
           SUM(failures) AS failures,
           SUM(actions) AS actions,
           SUM(transacting) AS transacting
    FROM pairs
    GROUP BY period, channel
)
SELECT period,
       channel,
       sessions,
       customers,
       CAST(sessions AS DOUBLE) / SUM(CASE WHEN channel = 'All' THEN sessions END) OVER (PARTITION BY period) AS session_share,
       failed_sessions,
       CAST(failed_sessions AS DOUBLE) / sessions AS failure_rate,
       100.0 * failures / NULLIF(actions, 0) AS failures_per_100_actions,
       CAST(transacting AS DOUBLE) / sessions AS transaction_rate
FROM per_channel
