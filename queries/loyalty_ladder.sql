-- The loyalty ladder: each customer's stage per month (first match wins):
--   dormant     no interaction this month nor in the two before (3 silent months)
--   advocate    has referred at least one customer who opened by this month's end
--   first_time  in their first 12 months with the bank
--   repeat      everyone else: an established, active customer
WITH m AS (
    SELECT customer_id, period, tier, tier_rank, interactions, tenure_months,
           SUM(interactions) OVER (PARTITION BY customer_id ORDER BY period ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS interactions_3m,
           COUNT(*) OVER (PARTITION BY customer_id ORDER BY period ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS months_seen
    FROM customer_month
),
referrals AS (
    SELECT m.customer_id, m.period, COUNT(r.customer_id) AS referred
    FROM m
    JOIN customers r ON r.referred_by = m.customer_id
                    AND to_char(r.opened_date, '%Y-%m') <= m.period
    GROUP BY m.customer_id, m.period
)
SELECT m.customer_id,
       m.period,
       m.tier,
       m.tier_rank,
       COALESCE(referrals.referred, 0) AS referred,
       CASE WHEN m.months_seen = 3 AND m.interactions_3m = 0 THEN 'dormant'
            WHEN COALESCE(referrals.referred, 0) > 0 THEN 'advocate'
            WHEN m.tenure_months < 12 THEN 'first_time'
            ELSE 'repeat' END AS stage
FROM m
LEFT JOIN referrals ON referrals.customer_id = m.customer_id AND referrals.period = m.period
