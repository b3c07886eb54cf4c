-- Relationship managers' time against profit (seed 001: the most valuable
-- 10% / next 30% / other 60% of customers should get 60% / 30% / 10% of RMs'
-- time), per month, over the customers of customer_profit that month, in
-- three breakdowns of the same customers:
--   breakdown 'tier'          grp = the tier
--   breakdown 'profit_group'  grp = high / ordinary / negative (customer_profit)
--   breakdown 'profit_band'   grp = 'top 10%' / 'next 30%' / 'other 60%' by the
--                        month's profit rank (ties by customer id; the top
--                        band is the first ceil(10% of n) customers)
--   customers, customer_share, contacted (customers with a contact),
--   contacts, minutes, minutes_share (of the month's RM minutes), profit
--   (HKD, exact), profit_share (signed: a loss-making group's is negative),
--   target_minutes_share (profit_band only: the seed's 0.6 / 0.3 / 0.1)
-- A contact with a customer who has no customer_profit row that month is
-- not counted here (rm_contacts keeps it).
WITH mins AS (
    SELECT customer_id, period, COUNT(*) AS contacts, SUM(CAST(minutes AS BIGINT)) AS minutes
    FROM rm_contacts
    GROUP BY customer_id, period
),
ranked AS (
    SELECT p.period, p.customer_id, p.tier, p.tier_rank, p.profit_group, p.profit,
           COALESCE(m.contacts, 0) AS contacts, COALESCE(m.minutes, 0) AS minutes,
           ROW_NUMBER() OVER (PARTITION BY p.period ORDER BY p.profit DESC, p.customer_id) AS profit_rank,
           COUNT(*) OVER (PARTITION BY p.period) AS n
    FROM customer_profit p
    LEFT JOIN mins m ON m.customer_id = p.customer_id AND m.period = p.period
),
banded AS (
    SELECT *,
           -- ceil(n / 10) and ceil(4n / 10) in integers: 0.1 * 30 is
           -- 3.0000000000000004 in floating point, whose ceiling is 4.
           CASE WHEN profit_rank <= (n + 9) / 10 THEN 1
                WHEN profit_rank <= (4 * n + 9) / 10 THEN 2
                ELSE 3 END AS band_order
    FROM ranked
),
breakdowns AS (
    SELECT period, 'tier' AS breakdown, tier AS grp, tier_rank AS grp_order, customer_id, contacts, minutes, profit
    FROM banded
    UNION ALL
    SELECT period, 'profit_group', COALESCE(profit_group, 'unknown'),
           CASE profit_group WHEN 'high' THEN 1 WHEN 'ordinary' THEN 2 WHEN 'negative' THEN 3 ELSE 4 END,
           customer_id, contacts, minutes, profit
    FROM banded
    UNION ALL
    SELECT period, 'profit_band',
           CASE band_order WHEN 1 THEN 'top 10%' WHEN 2 THEN 'next 30%' ELSE 'other 60%' END,
           band_order, customer_id, contacts, minutes, profit
    FROM banded
),
groups AS (
    SELECT period, breakdown, grp, grp_order,
           COUNT(*) AS customers,
           SUM(CASE WHEN contacts > 0 THEN 1 ELSE 0 END) AS contacted,
           SUM(contacts) AS contacts,
           SUM(minutes) AS minutes,
           SUM(profit) AS profit
    FROM breakdowns
    GROUP BY period, breakdown, grp, grp_order
)
SELECT period, breakdown, grp, grp_order, customers,
       CAST(customers AS DOUBLE) / SUM(customers) OVER (PARTITION BY period, breakdown) AS customer_share,
       contacted, contacts, minutes,
       CAST(minutes AS DOUBLE) / NULLIF(SUM(minutes) OVER (PARTITION BY period, breakdown), 0) AS minutes_share,
       profit,
       CAST(profit AS DOUBLE) / NULLIF(CAST(SUM(profit) OVER (PARTITION BY period, breakdown) AS DOUBLE), 0) AS profit_share,
       CASE WHEN breakdown = 'profit_band' THEN CASE grp_order WHEN 1 THEN 0.6 WHEN 2 THEN 0.3 ELSE 0.1 END END
           AS target_minutes_share
FROM groups
