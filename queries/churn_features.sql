-- Features and outcome for the churn model (`churn_risk`), one row per
-- customer and month, from customer_month:
--   days_inactive     whole days from the last interaction (any channel) to the month's end;
--                     never seen: days since the later of opening and the first loaded month
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
WITH m AS (
    SELECT *,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM customer_month
),
w AS (
    SELECT m.*,
           MAX(last_interaction_at)
               OVER (PARTITION BY customer_id ORDER BY period ROWS UNBOUNDED PRECEDING) AS last_active,
           AVG(CAST(interactions AS DOUBLE)) OVER w3 AS prior_activity,
           AVG(CAST(branch_interactions AS DOUBLE)) OVER w3 AS prior_branch,
           AVG(CAST(online_interactions + atm_interactions AS DOUBLE)) OVER w3 AS prior_digital,
           -- 3 months back, or the earliest loaded month when fewer are loaded
           COALESCE(LAG(relationship_balance, 3) OVER (PARTITION BY customer_id ORDER BY period),
                    LAG(relationship_balance, 2) OVER (PARTITION BY customer_id ORDER BY period),
                    LAG(relationship_balance, 1) OVER (PARTITION BY customer_id ORDER BY period)) AS balance_3m_ago,
           SUM(complaints) OVER (PARTITION BY customer_id ORDER BY period ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS complaints_3m,
           AVG(avg_csat) OVER (PARTITION BY customer_id ORDER BY period ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS csat_3m
    FROM m
    WINDOW w3 AS (PARTITION BY customer_id ORDER BY period ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING)
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
                                      CAST(greatest(w.opened_date, l.first_day) AS TIMESTAMP)))) / 86400.0) AS days_inactive,
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
