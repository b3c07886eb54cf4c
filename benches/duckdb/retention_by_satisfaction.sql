-- DuckDB port of queries/retention_by_satisfaction.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_char(x, fmt) -> strftime(x, fmt)
-- "Only very satisfied customers are loyal" (seed 001), checked: per month
-- and satisfaction band of the customers who answered a survey that month
-- ('All' = every one of them), how many closed their account within the
-- three months after the month's end (customers.closed_date).
--   band by the customer's mean CSAT of the month (csat_sum / csat_n):
--     'very satisfied' >= 4.5, 'satisfied' >= 3.5, 'neutral' >= 2.5,
--     'dissatisfied' below; band_order 1..4 ('All' 0)
--   customers, closed_3m, closure_rate = closed_3m / customers
--   window_complete  the three months after are loaded; until then
--                    closed_3m and closure_rate are null (not yet known)
WITH loaded AS (
    SELECT MAX(period) AS last_period FROM customer_month
),
answered AS (
    SELECT cm.customer_id, cm.period,
           CAST(cm.csat_sum AS DOUBLE) / cm.csat_n AS mean_csat,
           CAST(cm.period || '-01' AS DATE) AS month_start
    FROM customer_month cm
    WHERE cm.csat_n > 0
),
banded AS (
    SELECT a.period,
           CASE WHEN a.mean_csat >= 4.5 THEN 'very satisfied'
                WHEN a.mean_csat >= 3.5 THEN 'satisfied'
                WHEN a.mean_csat >= 2.5 THEN 'neutral'
                ELSE 'dissatisfied' END AS band,
           CASE WHEN a.mean_csat >= 4.5 THEN 1
                WHEN a.mean_csat >= 3.5 THEN 2
                WHEN a.mean_csat >= 2.5 THEN 3
                ELSE 4 END AS band_order,
           c.closed_date >= a.month_start + INTERVAL '1 month'
               AND c.closed_date < a.month_start + INTERVAL '4 months' AS closed,
           strftime(a.month_start + INTERVAL '3 months', '%Y-%m') <= l.last_period AS window_complete
    FROM answered a
    JOIN customers c ON c.customer_id = a.customer_id
    CROSS JOIN loaded l
),
-- Each customer-month in its band and again in 'All', by a cross join with
-- two rows: `banded` referenced twice would be computed twice (every
-- customer-month read and joined with the customers again).
both_levels AS (
    SELECT b.period,
           CASE WHEN l.all_bands THEN 'All' ELSE b.band END AS band,
           CASE WHEN l.all_bands THEN 0 ELSE b.band_order END AS band_order,
           b.closed, b.window_complete
    FROM banded b CROSS JOIN (VALUES (false), (true)) AS l(all_bands)
)
SELECT period,
       band,
       band_order,
       COUNT(*) AS customers,
       bool_and(window_complete) AS window_complete,
       CASE WHEN bool_and(window_complete)
            THEN SUM(CASE WHEN closed THEN 1 ELSE 0 END) END AS closed_3m,
       CASE WHEN bool_and(window_complete)
            THEN AVG(CASE WHEN closed THEN 1.0 ELSE 0.0 END) END AS closure_rate
FROM both_levels
GROUP BY period, band, band_order
