-- DuckDB port of queries/clv_by_tier.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_char(x, fmt) -> strftime(x, fmt)
--   to_date(text) -> CAST(text AS DATE)
-- Customer lifetime value per tier, the margin x retention model:
--   m = mean annual margin per customer (balances x product margins)
--   r = annual retention = (monthly retention)^12, where monthly retention is
--       1 - (customers closing their account the next month / customers), over
--       every month whose next month is loaded
--   CLV = m * r / (1 + d - r), d = clv_settings.discount_rate
WITH flagged AS (
    SELECT cm.period, cm.tier, cm.tier_rank, cm.annual_margin,
           CASE WHEN c.closed_date IS NOT NULL
                 AND strftime(c.closed_date, '%Y-%m') = strftime(CAST(cm.period || '-01' AS DATE) + INTERVAL '1 month', '%Y-%m')
                THEN 1 ELSE 0 END AS closes_next_month
    FROM customer_month cm
    JOIN customers c ON c.customer_id = cm.customer_id
),
-- The join of every customer-month with its customer is read once: grouped
-- by month and tier first, the retention over all months is a window over
-- those few rows (a second reference to `flagged` would join again, and at
-- 1M customers x 12 months two such joins did not fit the memory pool).
per_month AS (
    SELECT period, tier, tier_rank,
           COUNT(*) AS customers,
           CAST(AVG(annual_margin) AS DOUBLE) AS annual_margin,
           SUM(closes_next_month) AS closing
    FROM flagged
    GROUP BY period, tier, tier_rank
),
last_loaded AS (
    SELECT MAX(period) AS last_period FROM customer_month
),
rated AS (
    SELECT p.*,
           1.0 - CAST(SUM(CASE WHEN p.period < l.last_period THEN p.closing END) OVER (PARTITION BY p.tier) AS DOUBLE)
               / SUM(CASE WHEN p.period < l.last_period THEN p.customers END) OVER (PARTITION BY p.tier) AS monthly_retention
    FROM per_month p
    CROSS JOIN last_loaded l
)
-- A tier seen only in the last month has no retention, and no row.
SELECT r.period,
       r.tier,
       r.tier_rank,
       r.customers,
       r.annual_margin,
       r.monthly_retention,
       power(r.monthly_retention, 12) AS annual_retention,
       s.discount_rate,
       r.annual_margin * power(r.monthly_retention, 12)
           / (1 + s.discount_rate - power(r.monthly_retention, 12)) AS clv
FROM rated r
CROSS JOIN clv_settings s
WHERE r.monthly_retention IS NOT NULL
