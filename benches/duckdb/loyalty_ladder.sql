-- DuckDB port of queries/loyalty_ladder.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_char(x, fmt) -> strftime(x, fmt)
-- Seed 001's loyalty ladder for customers (its first three stages, for
-- people without an account, are in prospect_ladder): each customer's stage
-- per month, first match wins:
--   dormant     a repeat customer or advocate (below) without a deal for
--               ladder_rules.dormant_months months: a former patron to wake
--               up (seed 001: long without a purchase - not without any
--               contact: a dormant customer may still use the ATM)
--   advocate    two or more deals, and has referred at least one customer
--               who opened by this month's end
--   repeat      two or more deals
--   first_time  one deal so far (the account opened)
-- Deals so far = the most products held at any month's end so far (a card
-- paid down to zero is still a deal made) + the online purchases (sessions
-- with a transaction) up to the month's end; both over the loaded months
-- only, so purchases before the first loaded month are not seen. A month
-- has a deal when it has a purchase or more products than ever before.
-- `months_since_deal`: months since `last_deal_period`;
-- `silent_months`: months since `last_active_period`, the last month with an
-- interaction in any channel (pyramid_layers' Inactive). Both count loaded
-- months only: when there was none, the period is null and the count a
-- lower bound (the months since the first one loaded).
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
    SELECT customer_id, period, tier_rank, relationship_balance, products_held, interactions,
           CAST(NULL AS BIGINT) AS purchases
    FROM customer_month
    UNION ALL
    SELECT customer_id, period, NULL, NULL, NULL, NULL, purchases FROM purchases
),
cm AS (
    SELECT customer_id, period,
           MAX(tier_rank) AS tier_rank, MAX(relationship_balance) AS relationship_balance,
           MAX(products_held) AS products_held, MAX(interactions) AS interactions,
           COALESCE(MAX(purchases), 0) AS purchases,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM stack
    GROUP BY customer_id, period
),
before AS (
    SELECT *,
           MAX(products_held) OVER (PARTITION BY customer_id ORDER BY month_index
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS products_before
    FROM cm
),
-- The months with a deal and with any activity, as columns: a window's
-- arguments are evaluated again for every customer's slice of the rows,
-- a column is not (the running maxima below took a fifth longer).
flagged AS (
    SELECT *,
           CASE WHEN purchases > 0 OR products_held > products_before THEN month_index END AS deal_month,
           CASE WHEN interactions > 0 OR purchases > 0 THEN month_index END AS active_month
    FROM before
),
m AS (
    SELECT customer_id, period, tier_rank, relationship_balance, products_held, month_index,
           COALESCE(MAX(products_held) OVER (PARTITION BY customer_id ORDER BY month_index ROWS UNBOUNDED PRECEDING), 0)
             + SUM(purchases) OVER (PARTITION BY customer_id ORDER BY month_index ROWS UNBOUNDED PRECEDING) AS deals,
           MAX(deal_month) OVER (PARTITION BY customer_id ORDER BY month_index ROWS UNBOUNDED PRECEDING) AS last_deal,
           MAX(active_month) OVER (PARTITION BY customer_id ORDER BY month_index ROWS UNBOUNDED PRECEDING) AS last_active,
           -- The first month, as a running minimum in month order: a
           -- window over the whole customer is computed by buffering all
           -- of its input outside the memory pool (800 MB at 1M customers).
           MIN(month_index) OVER (PARTITION BY customer_id ORDER BY month_index ROWS UNBOUNDED PRECEDING)
             AS first_month
    FROM flagged
),
-- A month with purchases but no month-end balance (the account closed) counts
-- towards the deals but is not on the ladder.
held AS (
    SELECT customer_id, period, tier_rank, relationship_balance, products_held, deals,
           month_index - COALESCE(last_deal, first_month - 1) AS months_since_deal,
           CASE WHEN last_deal IS NOT NULL
                THEN concat(CAST((last_deal - 1) / 12 AS VARCHAR), '-', lpad(CAST((last_deal - 1) % 12 + 1 AS VARCHAR), 2, '0'))
           END AS last_deal_period,
           month_index - COALESCE(last_active, first_month - 1) AS silent_months,
           CASE WHEN last_active IS NOT NULL
                THEN concat(CAST((last_active - 1) / 12 AS VARCHAR), '-', lpad(CAST((last_active - 1) % 12 + 1 AS VARCHAR), 2, '0'))
           END AS last_active_period
    FROM m
    WHERE tier_rank IS NOT NULL
),
-- Counted over customer_month's rows, which are held's (a row is held when
-- it has a tier, and every customer_month row has one): a second reference
-- to `held` would make DataFusion compute the whole ladder above twice.
referrals AS (
    SELECT h.customer_id, h.period, COUNT(r.customer_id) AS referred
    FROM customer_month h
    JOIN customers r ON r.referred_by = h.customer_id
                    AND strftime(r.opened_date, '%Y-%m') <= h.period
    GROUP BY h.customer_id, h.period
)
SELECT h.customer_id,
       h.period,
       t.tier,
       h.tier_rank,
       h.relationship_balance,
       h.products_held,
       h.deals,
       h.months_since_deal,
       h.last_deal_period,
       h.silent_months,
       h.last_active_period,
       COALESCE(referrals.referred, 0) AS referred,
       CASE WHEN h.deals >= 2 AND h.months_since_deal >= rules.dormant_months THEN 'dormant'
            WHEN h.deals >= 2 AND COALESCE(referrals.referred, 0) > 0 THEN 'advocate'
            WHEN h.deals >= 2 THEN 'repeat'
            ELSE 'first_time' END AS stage
FROM held h
CROSS JOIN ladder_rules rules
LEFT JOIN referrals ON referrals.customer_id = h.customer_id AND referrals.period = h.period
-- The tier's name by its rank, last (customer_month took it from tier_rules
-- the same way): no text in the grouping and windows above (the query
-- 3.9-4.0 s against 4.3-4.6 s at 100k).
LEFT JOIN tier_rules t ON t.tier_rank = h.tier_rank
