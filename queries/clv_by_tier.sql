-- Customer lifetime value per tier, the margin x retention model:
--   m = mean annual margin per customer (balances x product margins)
--   r = annual retention = (monthly retention)^12, where monthly retention is
--       1 - (customers closing their account the next month / customers), over
--       every month whose next month is loaded
--   CLV = m * r / (1 + d - r), d = clv_settings.discount_rate
WITH flagged AS (
    SELECT cm.period, cm.tier, cm.tier_rank, cm.annual_margin,
           CASE WHEN c.closed_date IS NOT NULL
                 AND to_char(c.closed_date, '%Y-%m') = to_char(to_date(cm.period || '-01') + INTERVAL '1 month', '%Y-%m')
                THEN 1 ELSE 0 END AS closes_next_month
    FROM customer_month cm
    JOIN customers c ON c.customer_id = cm.customer_id
),
retention AS (
    SELECT tier, 1.0 - CAST(SUM(closes_next_month) AS DOUBLE) / COUNT(*) AS monthly_retention
    FROM flagged
    WHERE period < (SELECT MAX(period) FROM customer_month)
    GROUP BY tier
)
SELECT f.period,
       f.tier,
       f.tier_rank,
       COUNT(*) AS customers,
       CAST(AVG(f.annual_margin) AS DOUBLE) AS annual_margin,
       r.monthly_retention,
       power(r.monthly_retention, 12) AS annual_retention,
       s.discount_rate,
       CAST(AVG(f.annual_margin) AS DOUBLE) * power(r.monthly_retention, 12)
           / (1 + s.discount_rate - power(r.monthly_retention, 12)) AS clv
FROM flagged f
JOIN retention r ON r.tier = f.tier
CROSS JOIN clv_settings s
GROUP BY f.period, f.tier, f.tier_rank, r.monthly_retention, s.discount_rate
