-- Features and outcome for the churn model (`churn_risk`), one row per
-- customer and month, from customer_month:
--   days_inactive     whole days from the last interaction (any channel) in this month and the
--                     11 before to the month's end; none: days since the latest of opening,
--                     the first loaded month and the start of that 12-month span
--   activity_change   interactions this month against the mean of the prior 3 months:
--                     (now - mean) / (mean + 1), so -0.75 ≈ a quarter of the usual
--   branch_change, digital_change   the same for branch and for online + ATM
--   complaints_3m     complaints in the last 3 months
--   balance_change_3m relationship balance against 3 months ago (or the earliest loaded month
--                     when fewer are loaded), as a fraction (-0.3 = 30% lower)
--   csat_3m           mean survey CSAT over the last 3 months (null: no survey; the model imputes)
--   tenure_years, tier_rank, products_held
-- closes_within_3m: 1 if the customer's account closes in the 3 months after
-- this one, 0 if not, null while those months are not all loaded yet.
-- The months before are joined by month number: a month missing from a
-- customer's history is not skipped over, and a month reads the 11 months
-- before it and the 3 after it, nothing else (incremental: lookback 11,
-- lookahead 3). (Joins, not LAG: DataFusion's window operator is slow with
-- many lags.)
WITH m AS (
    SELECT *,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM customer_month
),
b AS (
    SELECT customer_id, month_index, interactions, branch_interactions,
           online_interactions + atm_interactions AS digital, relationship_balance, complaints, avg_csat
    FROM m
),
-- The latest interaction in this month and the 11 before: a join on the
-- customer within that span (DataFusion's running window over many small
-- partitions cost ~0.4 s per 200k rows).
seen AS (
    SELECT c.customer_id, c.month_index, MAX(a.last_interaction_at) AS last_active
    FROM m c
    JOIN m a ON a.customer_id = c.customer_id
            AND a.month_index BETWEEN c.month_index - 11 AND c.month_index
    WHERE a.last_interaction_at IS NOT NULL
    GROUP BY c.customer_id, c.month_index
),
j AS (
    SELECT s.*,
           la.last_active,
           CASE WHEN p1.customer_id IS NULL THEN 0 ELSE 1 END + CASE WHEN p2.customer_id IS NULL THEN 0 ELSE 1 END
               + CASE WHEN p3.customer_id IS NULL THEN 0 ELSE 1 END AS prior_months,
           COALESCE(p1.interactions, 0) + COALESCE(p2.interactions, 0) + COALESCE(p3.interactions, 0)
               AS prior_interactions,
           COALESCE(p1.branch_interactions, 0) + COALESCE(p2.branch_interactions, 0)
               + COALESCE(p3.branch_interactions, 0) AS prior_branch_interactions,
           COALESCE(p1.digital, 0) + COALESCE(p2.digital, 0) + COALESCE(p3.digital, 0) AS prior_digital_interactions,
           -- 3 months back, or the earliest of the 3 before when fewer are loaded
           COALESCE(p3.relationship_balance, p2.relationship_balance, p1.relationship_balance) AS balance_3m_ago,
           s.complaints + COALESCE(p1.complaints, 0) + COALESCE(p2.complaints, 0) AS complaints_3m,
           -- the mean of the surveyed months' means, oldest first
           (COALESCE(p2.avg_csat, 0.0) + COALESCE(p1.avg_csat, 0.0) + COALESCE(s.avg_csat, 0.0))
           / NULLIF(CASE WHEN p2.avg_csat IS NULL THEN 0 ELSE 1 END + CASE WHEN p1.avg_csat IS NULL THEN 0 ELSE 1 END
                    + CASE WHEN s.avg_csat IS NULL THEN 0 ELSE 1 END, 0) AS csat_3m
    FROM m s
    LEFT JOIN seen la ON la.customer_id = s.customer_id AND la.month_index = s.month_index
    LEFT JOIN b p1 ON p1.customer_id = s.customer_id AND p1.month_index = s.month_index - 1
    LEFT JOIN b p2 ON p2.customer_id = s.customer_id AND p2.month_index = s.month_index - 2
    LEFT JOIN b p3 ON p3.customer_id = s.customer_id AND p3.month_index = s.month_index - 3
),
-- means over the loaded months of the 3 before (null: none)
w AS (
    SELECT j.*,
           CAST(prior_interactions AS DOUBLE) / NULLIF(prior_months, 0) AS prior_activity,
           CAST(prior_branch_interactions AS DOUBLE) / NULLIF(prior_months, 0) AS prior_branch,
           CAST(prior_digital_interactions AS DOUBLE) / NULLIF(prior_months, 0) AS prior_digital
    FROM j
),
last_loaded AS (
    SELECT MAX(month_index) AS last_month, to_date(MIN(period) || '-01') AS first_day FROM m
)
SELECT w.customer_id,
       w.period,
       w.tier,
       w.tier_rank,
       w.relationship_balance,
       floor((date_part('epoch', CAST(to_date(w.period || '-01') + INTERVAL '1 month' AS TIMESTAMP))
        - date_part('epoch', COALESCE(CAST(w.last_active AS TIMESTAMP),
                                      CAST(greatest(w.opened_date, l.first_day,
                                                    to_date(w.period || '-01') - INTERVAL '11 months') AS TIMESTAMP)))) / 86400.0) AS days_inactive,
       (w.interactions - w.prior_activity) / (w.prior_activity + 1) AS activity_change,
       (w.branch_interactions - w.prior_branch) / (w.prior_branch + 1) AS branch_change,
       (w.online_interactions + w.atm_interactions - w.prior_digital) / (w.prior_digital + 1) AS digital_change,
       CAST(w.complaints_3m AS DOUBLE) AS complaints_3m,
       CASE WHEN w.balance_3m_ago > 0
            THEN CAST(w.relationship_balance AS DOUBLE) / CAST(w.balance_3m_ago AS DOUBLE) - 1 END AS balance_change_3m,
       w.csat_3m,
       w.tenure_months / 12.0 AS tenure_years,
       CAST(w.tier_rank AS DOUBLE) AS tier_level,
       CAST(w.products_held AS DOUBLE) AS products_held,
       CASE WHEN w.month_index + 3 > l.last_month THEN NULL
            WHEN w.closed_date IS NOT NULL
             AND date_part('year', w.closed_date) * 12 + date_part('month', w.closed_date) > w.month_index
             AND date_part('year', w.closed_date) * 12 + date_part('month', w.closed_date) <= w.month_index + 3
            THEN 1 ELSE 0 END AS closes_within_3m
FROM w
CROSS JOIN last_loaded l
