-- Online banking per month and channel (web, mobile, messaging; 'All' =
-- every session):
--   sessions, customers, session_share of the month's sessions
--   failed_sessions         sessions with at least one failure
--   failure_rate            failed_sessions / sessions
--   failures_per_100_actions  failures per 100 actions (attempted steps)
--   transaction_rate        share of sessions with a transaction
WITH s AS (
    SELECT period, COALESCE(channel, 'unknown') AS channel, customer_id, actions, transactions, failures
    FROM online_sessions
),
both_levels AS (
    SELECT * FROM s
    UNION ALL
    SELECT period, 'All' AS channel, customer_id, actions, transactions, failures FROM s
)
SELECT period,
       channel,
       COUNT(*) AS sessions,
       COUNT(DISTINCT customer_id) AS customers,
       CAST(COUNT(*) AS DOUBLE) / SUM(CASE WHEN channel = 'All' THEN COUNT(*) END) OVER (PARTITION BY period) AS session_share,
       SUM(CASE WHEN failures > 0 THEN 1 ELSE 0 END) AS failed_sessions,
       AVG(CASE WHEN failures > 0 THEN 1.0 ELSE 0.0 END) AS failure_rate,
       100.0 * SUM(failures) / NULLIF(SUM(actions), 0) AS failures_per_100_actions,
       AVG(CASE WHEN transactions > 0 THEN 1.0 ELSE 0.0 END) AS transaction_rate
FROM both_levels
GROUP BY period, channel
