-- DuckDB port of queries/interactions.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Every customer interaction across channels, one row each: the common
-- grain for channel mix and activity. `complaint` marks complaint contacts.
SELECT customer_id, period, 'atm' AS channel, txn_time AS occurred_at, amount, false AS complaint
FROM atm
UNION ALL
SELECT customer_id, period, 'branch', issued_at, CAST(0 AS DECIMAL(18, 2)), service_type = 'complaint'
FROM branch_visits
UNION ALL
SELECT customer_id, period, 'online', login_at, amount, false
FROM online_sessions
UNION ALL
SELECT customer_id, period, 'call_centre', call_start, CAST(0 AS DECIMAL(18, 2)), reason = 'complaint'
FROM calls
