-- DuckDB port of queries/rm_time.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
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
           ROW_NUMBER() OVER (PARTITION BY p.period ORDER BY p.profit DESC, p.customer_id) AS profit_rank
    FROM customer_profit p
    LEFT JOIN mins m ON m.customer_id = p.customer_id AND m.period = p.period
),
-- The month's customer count from a row a month, named first so those few
-- rows are the side the join holds. (A COUNT(*) over the whole month holds
-- the month in one batch: 70 MB at 1M customers; counting from the other
-- end of the order was a second sort of every row.)
month_counts AS (
    SELECT period, COUNT(*) AS n FROM customer_profit GROUP BY period
),
counted AS (
    SELECT r.*, c.n FROM month_counts c JOIN ranked r ON r.period = c.period
),
banded AS (
    SELECT *,
           -- ceil(n / 10) and ceil(4n / 10) in integers: 0.1 * 30 is
           -- 3.0000000000000004 in floating point, whose ceiling is 4.
           CASE WHEN profit_rank <= (n + 9) / 10 THEN 1
                WHEN profit_rank <= (4 * n + 9) / 10 THEN 2
                ELSE 3 END AS band_order
    FROM counted
),
-- The three breakdowns are grouping sets of one pass over `banded`: a CTE
-- referenced three times is computed three times (three sorts and joins of
-- every customer-month at once, which at 100k customers outgrew the 512 MB
-- pool). tier and the profit-group label are never null (customer_month
-- checks tier), so the set a row belongs to shows in which column is.
labelled AS (
    SELECT period, tier, tier_rank, COALESCE(profit_group, 'unknown') AS profit_label,
           CASE profit_group WHEN 'high' THEN 1 WHEN 'ordinary' THEN 2 WHEN 'negative' THEN 3 ELSE 4 END AS profit_order,
           band_order, contacts, minutes, profit
    FROM banded
),
sets AS (
    SELECT period, tier, tier_rank, profit_label, profit_order, band_order,
           COUNT(*) AS customers,
           SUM(CASE WHEN contacts > 0 THEN 1 ELSE 0 END) AS contacted,
           SUM(contacts) AS contacts,
           SUM(minutes) AS minutes,
           SUM(profit) AS profit
    FROM labelled
    GROUP BY GROUPING SETS ((period, tier, tier_rank), (period, profit_label, profit_order), (period, band_order))
),
groups AS (
    SELECT period,
           CASE WHEN tier IS NOT NULL THEN 'tier' WHEN profit_label IS NOT NULL THEN 'profit_group' ELSE 'profit_band' END AS breakdown,
           CASE WHEN tier IS NOT NULL THEN tier
                WHEN profit_label IS NOT NULL THEN profit_label
                WHEN band_order = 1 THEN 'top 10%' WHEN band_order = 2 THEN 'next 30%' ELSE 'other 60%' END AS grp,
           COALESCE(tier_rank, profit_order, band_order) AS grp_order,
           customers, contacted, contacts, minutes, profit
    FROM sets
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
