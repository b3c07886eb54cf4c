-- The conformed customer view: one row per customer and month in which the
-- customer held a balance at month end.
-- relationship_balance = sum of balances of products with relationship = true
-- (deposits + investments + insurance); tier = the highest tier whose
-- min_balance the relationship balance reaches (tier_rules).
--
-- Written so its memory is bounded whatever the bank's size: balances,
-- interactions and surveys are each summed per customer and month, stacked,
-- and combined by one more GROUP BY (aggregates spill to disk under the
-- memory pool; a hash join of the three per-month aggregates cannot, and
-- needed ~700 MB at 100k customers). Each column of the stack comes from
-- one of the three, so MAX picks it. Tiers come from a band join against
-- the few rows of tier_rules, and customers is the only other build side.
-- The period stays the partition column's own type until the end: the three
-- groupings' rows are then still spread over partitions by the keys the last
-- grouping uses, so their union is interleaved and grouped once, where a
-- cast in each branch hid that and cost a partial grouping and a shuffle
-- of all their rows (0.8 s of CPU in 12 parts at 100k customers).
WITH bal AS (
    SELECT b.customer_id,
           b.period,
           SUM(CASE WHEN m.relationship THEN b.balance ELSE 0 END) AS relationship_balance,
           SUM(CASE WHEN b.product = 'savings' THEN b.balance ELSE 0 END) AS savings,
           SUM(CASE WHEN b.product = 'time_deposit' THEN b.balance ELSE 0 END) AS time_deposit,
           SUM(CASE WHEN b.product = 'investment' THEN b.balance ELSE 0 END) AS investment,
           SUM(CASE WHEN b.product = 'insurance' THEN b.balance ELSE 0 END) AS insurance,
           SUM(CASE WHEN b.product = 'mortgage' THEN b.balance ELSE 0 END) AS mortgage,
           SUM(CASE WHEN b.product = 'credit_card' THEN b.balance ELSE 0 END) AS credit_card,
           COUNT(*) AS products_held,
           SUM(b.balance * m.annual_margin) AS annual_margin
    FROM balances b
    JOIN product_margins m ON m.product = b.product
    GROUP BY b.customer_id, b.period
),
act AS (
    SELECT customer_id, period,
           SUM(CASE WHEN channel = 'atm' THEN 1 ELSE 0 END) AS atm,
           SUM(CASE WHEN channel = 'branch' THEN 1 ELSE 0 END) AS branch,
           SUM(CASE WHEN channel = 'online' THEN 1 ELSE 0 END) AS online,
           SUM(CASE WHEN channel = 'call_centre' THEN 1 ELSE 0 END) AS call,
           COUNT(*) AS interactions,
           SUM(CASE WHEN complaint THEN 1 ELSE 0 END) AS complaints,
           MAX(occurred_at) AS last_interaction_at
    FROM interactions
    GROUP BY customer_id, period
),
sat AS (
    -- Sums and counts, not averages, so the stack can carry them.
    SELECT customer_id, period, COUNT(*) AS responses,
           SUM(csat) AS csat_sum, COUNT(csat) AS csat_n, SUM(nps) AS nps_sum, COUNT(nps) AS nps_n
    FROM surveys
    GROUP BY customer_id, period
),
facts AS (
    -- The first branch fixes the union's types, so its NULLs are typed.
    SELECT customer_id, period, relationship_balance, savings, time_deposit, investment, insurance, mortgage, credit_card,
           products_held, annual_margin,
           CAST(NULL AS BIGINT) AS atm, CAST(NULL AS BIGINT) AS branch, CAST(NULL AS BIGINT) AS online, CAST(NULL AS BIGINT) AS call,
           CAST(NULL AS BIGINT) AS interactions, CAST(NULL AS BIGINT) AS complaints,
           arrow_cast(NULL, 'Timestamp(Microsecond, Some("UTC"))') AS last_interaction_at,
           CAST(NULL AS BIGINT) AS responses, CAST(NULL AS BIGINT) AS csat_sum, CAST(NULL AS BIGINT) AS csat_n,
           CAST(NULL AS BIGINT) AS nps_sum, CAST(NULL AS BIGINT) AS nps_n
    FROM bal
    UNION ALL
    SELECT customer_id, period, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           atm, branch, online, call, interactions, complaints, last_interaction_at, NULL, NULL, NULL, NULL, NULL
    FROM act
    UNION ALL
    SELECT customer_id, period, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, responses, csat_sum, csat_n, nps_sum, nps_n
    FROM sat
),
cm AS (
    SELECT customer_id, period,
           MAX(relationship_balance) AS relationship_balance, MAX(savings) AS savings, MAX(time_deposit) AS time_deposit,
           MAX(investment) AS investment, MAX(insurance) AS insurance, MAX(mortgage) AS mortgage, MAX(credit_card) AS credit_card,
           MAX(products_held) AS products_held, MAX(annual_margin) AS annual_margin,
           COALESCE(MAX(atm), 0) AS atm_interactions, COALESCE(MAX(branch), 0) AS branch_interactions,
           COALESCE(MAX(online), 0) AS online_interactions, COALESCE(MAX(call), 0) AS call_interactions,
           COALESCE(MAX(interactions), 0) AS interactions, COALESCE(MAX(complaints), 0) AS complaints,
           MAX(last_interaction_at) AS last_interaction_at,
           COALESCE(MAX(responses), 0) AS survey_responses,
           CAST(MAX(csat_sum) AS DOUBLE) / MAX(csat_n) AS avg_csat,
           MAX(csat_sum) AS csat_sum, COALESCE(MAX(csat_n), 0) AS csat_n,
           CAST(MAX(nps_sum) AS DOUBLE) / MAX(nps_n) AS avg_nps
    FROM facts
    GROUP BY customer_id, period
    -- Months with interactions or surveys but no balance are not rows.
    HAVING MAX(products_held) IS NOT NULL
),
-- One band per distinct min_balance: [lo, next higher min_balance), holding
-- the best (lowest) rank among the tiers whose min_balance is <= lo, so a
-- balance falls in at most one band and gets the tier it would by taking
-- MIN(tier_rank) over every tier it reaches.
bands AS (
    SELECT l.lo,
           MIN(CASE WHEN t.min_balance > l.lo THEN t.min_balance END) AS hi,
           MIN(CASE WHEN t.min_balance <= l.lo THEN t.tier_rank END) AS tier_rank
    FROM (SELECT DISTINCT min_balance AS lo FROM tier_rules) l
    CROSS JOIN tier_rules t
    GROUP BY l.lo
)
SELECT cm.customer_id,
       CAST(cm.period AS VARCHAR) AS period,
       r.tier,
       r.tier_rank,
       cm.relationship_balance,
       cm.savings,
       cm.time_deposit,
       cm.investment,
       cm.insurance,
       cm.mortgage,
       cm.credit_card,
       cm.products_held,
       cm.annual_margin,
       cm.atm_interactions,
       cm.branch_interactions,
       cm.online_interactions,
       cm.call_interactions,
       cm.interactions,
       cm.complaints,
       cm.last_interaction_at,
       cm.survey_responses,
       cm.avg_csat,
       cm.avg_nps,
       cm.csat_sum,
       cm.csat_n,
       c.opened_date,
       c.closed_date,
       CAST((CAST(substr(cm.period, 1, 4) AS BIGINT) - date_part('year', c.opened_date)) * 12
            + (CAST(substr(cm.period, 6, 2) AS BIGINT) - date_part('month', c.opened_date)) AS BIGINT) AS tenure_months
FROM cm
-- A balance below every min_balance has no band, so no tier and no row.
JOIN bands ON cm.relationship_balance >= bands.lo
          AND (bands.hi IS NULL OR cm.relationship_balance < bands.hi)
JOIN tier_rules r ON r.tier_rank = bands.tier_rank
JOIN customers c ON c.customer_id = cm.customer_id
