-- DuckDB port of queries/clv_purchases.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_date(text) -> CAST(text AS DATE)
-- Purchases for the BG/NBD + Gamma-Gamma CLV step: every customer with the
-- moment their purchase clock starts (the later of the first loaded month and
-- their opening date; no purchase at that moment), and each online purchase
-- (a session with a transaction) with its amount. Customers with no purchase
-- keep one row with a null purchase time, so they count as zero purchases.
WITH window_start AS (
    SELECT CAST(MIN(period) || '-01' AS DATE) AS first_day FROM online_sessions
)
SELECT c.customer_id,
       CAST(CASE WHEN c.opened_date > w.first_day THEN c.opened_date ELSE w.first_day END AS DATE) AS birth,
       s.login_at AS purchased_at,
       s.amount
FROM customers c
CROSS JOIN window_start w
LEFT JOIN online_sessions s ON s.customer_id = c.customer_id AND s.transactions > 0
