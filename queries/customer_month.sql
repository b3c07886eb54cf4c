-- The conformed customer view: one row per customer and month in which the
-- customer held a balance at month end.
-- relationship_balance = sum of balances of products with relationship = true
-- (deposits + investments + insurance); tier = the highest tier whose
-- min_balance the relationship balance reaches (tier_rules).
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
tiered AS (
    SELECT bal.customer_id, bal.period, MIN(t.tier_rank) AS tier_rank
    FROM bal
    JOIN tier_rules t ON bal.relationship_balance >= t.min_balance
    GROUP BY bal.customer_id, bal.period
),
act AS (
    SELECT customer_id,
           period,
           SUM(CASE WHEN channel = 'atm' THEN 1 ELSE 0 END) AS atm_interactions,
           SUM(CASE WHEN channel = 'branch' THEN 1 ELSE 0 END) AS branch_interactions,
           SUM(CASE WHEN channel = 'online' THEN 1 ELSE 0 END) AS online_interactions,
           SUM(CASE WHEN channel = 'call_centre' THEN 1 ELSE 0 END) AS call_interactions,
           COUNT(*) AS interactions,
           SUM(CASE WHEN complaint THEN 1 ELSE 0 END) AS complaints,
           MAX(occurred_at) AS last_interaction_at
    FROM interactions
    GROUP BY customer_id, period
),
sat AS (
    SELECT customer_id, period, COUNT(*) AS survey_responses, AVG(csat) AS avg_csat, AVG(nps) AS avg_nps
    FROM surveys
    GROUP BY customer_id, period
)
SELECT bal.customer_id,
       bal.period,
       r.tier,
       r.tier_rank,
       bal.relationship_balance,
       bal.savings,
       bal.time_deposit,
       bal.investment,
       bal.insurance,
       bal.mortgage,
       bal.credit_card,
       bal.products_held,
       bal.annual_margin,
       COALESCE(act.atm_interactions, 0) AS atm_interactions,
       COALESCE(act.branch_interactions, 0) AS branch_interactions,
       COALESCE(act.online_interactions, 0) AS online_interactions,
       COALESCE(act.call_interactions, 0) AS call_interactions,
       COALESCE(act.interactions, 0) AS interactions,
       COALESCE(act.complaints, 0) AS complaints,
       act.last_interaction_at,
       COALESCE(sat.survey_responses, 0) AS survey_responses,
       sat.avg_csat,
       sat.avg_nps,
       c.opened_date,
       c.closed_date,
       CAST((CAST(substr(bal.period, 1, 4) AS BIGINT) - date_part('year', c.opened_date)) * 12
            + (CAST(substr(bal.period, 6, 2) AS BIGINT) - date_part('month', c.opened_date)) AS BIGINT) AS tenure_months
FROM bal
JOIN tiered ON tiered.customer_id = bal.customer_id AND tiered.period = bal.period
JOIN tier_rules r ON r.tier_rank = tiered.tier_rank
JOIN customers c ON c.customer_id = bal.customer_id
LEFT JOIN act ON act.customer_id = bal.customer_id AND act.period = bal.period
LEFT JOIN sat ON sat.customer_id = bal.customer_id AND sat.period = bal.period
