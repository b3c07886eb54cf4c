-- Cross-sell per month and tier ('All' = every tier, tier_rank 0), over the
-- customers with a month-end balance (customer_month):
--   products_per_customer   mean number of products held (the month's balance rows)
--   multi_product_share     share holding two products or more
--   <product>_penetration   share holding the product (a balance above 0)
--   referrers               customers with at least one referred customer
--                           opened by the month's end (customers.referred_by)
--   referrals               customers opened this month on their referral
-- A referral counts for the referrer's tier in the month it opened; a
-- referrer without a month-end balance that month is in no tier.
WITH referred AS (
    SELECT referred_by AS customer_id, to_char(opened_date, '%Y-%m') AS opened_period
    FROM customers
    WHERE referred_by IS NOT NULL
),
-- Per referrer: the month of their first referral, and referrals per month
-- (small tables, so the customer rows join them without being regrouped).
first_referral AS (
    SELECT customer_id, MIN(opened_period) AS first_period FROM referred GROUP BY customer_id
),
monthly_referrals AS (
    SELECT customer_id, opened_period AS period, COUNT(*) AS referrals
    FROM referred
    GROUP BY customer_id, opened_period
),
per_customer AS (
    SELECT cm.period, cm.tier, cm.tier_rank, cm.customer_id, cm.products_held,
           cm.savings, cm.time_deposit, cm.investment, cm.insurance, cm.mortgage, cm.credit_card,
           COALESCE(f.first_period <= cm.period, false) AS referrer,
           COALESCE(r.referrals, 0) AS referrals
    FROM customer_month cm
    LEFT JOIN first_referral f ON f.customer_id = cm.customer_id
    LEFT JOIN monthly_referrals r ON r.customer_id = cm.customer_id AND r.period = cm.period
),
-- Each customer-month in its tier and again in 'All', by a cross join with
-- two rows: `per_customer` referenced twice would be computed twice (every
-- customer-month read and joined again). The averages are of whole numbers,
-- so exact either way.
both_levels AS (
    SELECT p.period,
           CASE WHEN l.all_tiers THEN 'All' ELSE p.tier END AS tier,
           CASE WHEN l.all_tiers THEN 0 ELSE p.tier_rank END AS tier_rank,
           p.customer_id, p.products_held, p.savings, p.time_deposit, p.investment, p.insurance,
           p.mortgage, p.credit_card, p.referrer, p.referrals
    FROM per_customer p CROSS JOIN (VALUES (false), (true)) AS l(all_tiers)
)
SELECT period,
       tier,
       tier_rank,
       COUNT(*) AS customers,
       AVG(CAST(products_held AS DOUBLE)) AS products_per_customer,
       AVG(CASE WHEN products_held >= 2 THEN 1.0 ELSE 0.0 END) AS multi_product_share,
       AVG(CASE WHEN savings > 0 THEN 1.0 ELSE 0.0 END) AS savings_penetration,
       AVG(CASE WHEN time_deposit > 0 THEN 1.0 ELSE 0.0 END) AS time_deposit_penetration,
       AVG(CASE WHEN investment > 0 THEN 1.0 ELSE 0.0 END) AS investment_penetration,
       AVG(CASE WHEN insurance > 0 THEN 1.0 ELSE 0.0 END) AS insurance_penetration,
       AVG(CASE WHEN mortgage > 0 THEN 1.0 ELSE 0.0 END) AS mortgage_penetration,
       AVG(CASE WHEN credit_card > 0 THEN 1.0 ELSE 0.0 END) AS credit_card_penetration,
       SUM(CASE WHEN referrer THEN 1 ELSE 0 END) AS referrers,
       SUM(referrals) AS referrals
FROM both_levels
GROUP BY period, tier, tier_rank
