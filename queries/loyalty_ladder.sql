-- Seed 001's loyalty ladder for customers (its first three stages, for
-- people without an account, are in prospect_ladder): each customer's stage
-- per month, first match wins:
--   dormant     a repeat customer or advocate (below) with no interaction in
--               any channel for ladder_rules.dormant_months months: a former
--               patron to wake up
--   advocate    two or more deals, and has referred at least one customer
--               who opened by this month's end
--   repeat      two or more deals
--   first_time  one deal so far (the account opened)
-- A deal is a product held at the month's end or an online purchase (a
-- session with a transaction) in the loaded months up to the month's end;
-- purchases before the first loaded month are not seen.
-- `silent_months`: months since the customer's last month with an
-- interaction (`last_active_period`); counted over the loaded months only,
-- so when there was none (`last_active_period` null) it is a lower bound.
--
-- Purchases are stacked under the customer months and grouped (an aggregate
-- spills to disk under the memory pool; a hash join's build side cannot).
WITH purchases AS (
    SELECT customer_id, CAST(period AS VARCHAR) AS period, COUNT(*) AS purchases
    FROM online_sessions
    WHERE transactions > 0
    GROUP BY customer_id, period
),
stack AS (
    SELECT customer_id, period, tier, tier_rank, relationship_balance, products_held, interactions,
           CAST(NULL AS BIGINT) AS purchases
    FROM customer_month
    UNION ALL
    SELECT customer_id, period, NULL, NULL, NULL, NULL, NULL, purchases FROM purchases
),
cm AS (
    SELECT customer_id, period,
           MAX(tier) AS tier, MAX(tier_rank) AS tier_rank, MAX(relationship_balance) AS relationship_balance,
           MAX(products_held) AS products_held, MAX(interactions) AS interactions,
           COALESCE(MAX(purchases), 0) AS purchases,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM stack
    GROUP BY customer_id, period
),
m AS (
    SELECT customer_id, period, tier, tier_rank, relationship_balance, products_held, month_index,
           COALESCE(products_held, 0)
             + SUM(purchases) OVER (PARTITION BY customer_id ORDER BY month_index ROWS UNBOUNDED PRECEDING) AS deals,
           MAX(CASE WHEN interactions > 0 OR purchases > 0 THEN month_index END)
               OVER (PARTITION BY customer_id ORDER BY month_index ROWS UNBOUNDED PRECEDING) AS last_active,
           MIN(month_index) OVER (PARTITION BY customer_id) AS first_month
    FROM cm
),
-- A month with purchases but no month-end balance (the account closed) counts
-- towards the deals but is not on the ladder.
held AS (
    SELECT customer_id, period, tier, tier_rank, relationship_balance, products_held, deals,
           month_index - COALESCE(last_active, first_month - 1) AS silent_months,
           CASE WHEN last_active IS NOT NULL
                THEN concat(CAST((last_active - 1) / 12 AS VARCHAR), '-', lpad(CAST((last_active - 1) % 12 + 1 AS VARCHAR), 2, '0'))
           END AS last_active_period
    FROM m
    WHERE tier IS NOT NULL
),
referrals AS (
    SELECT h.customer_id, h.period, COUNT(r.customer_id) AS referred
    FROM held h
    JOIN customers r ON r.referred_by = h.customer_id
                    AND to_char(r.opened_date, '%Y-%m') <= h.period
    GROUP BY h.customer_id, h.period
)
SELECT h.customer_id,
       h.period,
       h.tier,
       h.tier_rank,
       h.relationship_balance,
       h.products_held,
       h.deals,
       h.silent_months,
       h.last_active_period,
       COALESCE(referrals.referred, 0) AS referred,
       CASE WHEN h.deals >= 2 AND h.silent_months >= rules.dormant_months THEN 'dormant'
            WHEN h.deals >= 2 AND COALESCE(referrals.referred, 0) > 0 THEN 'advocate'
            WHEN h.deals >= 2 THEN 'repeat'
            ELSE 'first_time' END AS stage
FROM held h
CROSS JOIN ladder_rules rules
LEFT JOIN referrals ON referrals.customer_id = h.customer_id AND referrals.period = h.period
