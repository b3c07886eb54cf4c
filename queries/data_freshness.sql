-- Data freshness: the newest record and the row count of every source.
SELECT 'atm' AS source, CAST(MAX(txn_time) AS VARCHAR) AS newest, COUNT(*) AS row_count FROM atm
UNION ALL
SELECT 'branch_visits', CAST(MAX(issued_at) AS VARCHAR), COUNT(*) FROM branch_visits
UNION ALL
SELECT 'online_sessions', CAST(MAX(login_at) AS VARCHAR), COUNT(*) FROM online_sessions
UNION ALL
SELECT 'calls', CAST(MAX(call_start) AS VARCHAR), COUNT(*) FROM calls
UNION ALL
SELECT 'surveys', CAST(MAX(responded_at) AS VARCHAR), COUNT(*) FROM surveys
UNION ALL
SELECT 'balances', CAST(MAX(as_of_date) AS VARCHAR), COUNT(*) FROM balances
UNION ALL
SELECT 'customers', CAST(MAX(opened_date) AS VARCHAR), COUNT(*) FROM customers
UNION ALL
SELECT 'complaints', CAST(MAX(opened_at) AS VARCHAR), COUNT(*) FROM complaints
UNION ALL
SELECT 'rm_contacts', CAST(MAX(contacted_at) AS VARCHAR), COUNT(*) FROM rm_contacts
