-- DuckDB port of queries/data_freshness.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: a timestamp as text is ISO 8601 with a Z in DataFusion, `… +00` in DuckDB
-- Data freshness: the newest record and the row count of every source.
SELECT 'atm' AS source, CASE WHEN typeof(MAX(txn_time)) LIKE 'TIMESTAMP%' THEN strftime(MAX(txn_time), '%Y-%m-%dT%H:%M:%SZ') ELSE CAST(MAX(txn_time) AS VARCHAR) END AS newest, COUNT(*) AS row_count FROM atm
UNION ALL
SELECT 'branch_visits', CASE WHEN typeof(MAX(issued_at)) LIKE 'TIMESTAMP%' THEN strftime(MAX(issued_at), '%Y-%m-%dT%H:%M:%SZ') ELSE CAST(MAX(issued_at) AS VARCHAR) END, COUNT(*) FROM branch_visits
UNION ALL
SELECT 'online_sessions', CASE WHEN typeof(MAX(login_at)) LIKE 'TIMESTAMP%' THEN strftime(MAX(login_at), '%Y-%m-%dT%H:%M:%SZ') ELSE CAST(MAX(login_at) AS VARCHAR) END, COUNT(*) FROM online_sessions
UNION ALL
SELECT 'calls', CASE WHEN typeof(MAX(call_start)) LIKE 'TIMESTAMP%' THEN strftime(MAX(call_start), '%Y-%m-%dT%H:%M:%SZ') ELSE CAST(MAX(call_start) AS VARCHAR) END, COUNT(*) FROM calls
UNION ALL
SELECT 'surveys', CASE WHEN typeof(MAX(responded_at)) LIKE 'TIMESTAMP%' THEN strftime(MAX(responded_at), '%Y-%m-%dT%H:%M:%SZ') ELSE CAST(MAX(responded_at) AS VARCHAR) END, COUNT(*) FROM surveys
UNION ALL
SELECT 'balances', CASE WHEN typeof(MAX(as_of_date)) LIKE 'TIMESTAMP%' THEN strftime(MAX(as_of_date), '%Y-%m-%dT%H:%M:%SZ') ELSE CAST(MAX(as_of_date) AS VARCHAR) END, COUNT(*) FROM balances
UNION ALL
SELECT 'customers', CASE WHEN typeof(MAX(opened_date)) LIKE 'TIMESTAMP%' THEN strftime(MAX(opened_date), '%Y-%m-%dT%H:%M:%SZ') ELSE CAST(MAX(opened_date) AS VARCHAR) END, COUNT(*) FROM customers
UNION ALL
SELECT 'complaints', CASE WHEN typeof(MAX(opened_at)) LIKE 'TIMESTAMP%' THEN strftime(MAX(opened_at), '%Y-%m-%dT%H:%M:%SZ') ELSE CAST(MAX(opened_at) AS VARCHAR) END, COUNT(*) FROM complaints
UNION ALL
SELECT 'rm_contacts', CASE WHEN typeof(MAX(contacted_at)) LIKE 'TIMESTAMP%' THEN strftime(MAX(contacted_at), '%Y-%m-%dT%H:%M:%SZ') ELSE CAST(MAX(contacted_at) AS VARCHAR) END, COUNT(*) FROM rm_contacts
