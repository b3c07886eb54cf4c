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
WITH m AS (
    SELECT *,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM customer_month
),
-- The months before come from the rows before (LAG), each kept only if it
-- falls in the months asked for: a month missing from a customer's history
-- is not skipped over, and a month reads the 11 months before it and the 3
-- after it, nothing else (incremental: lookback 11, lookahead 3).
l AS (
    SELECT m.*,
           LAG(month_index, 1) OVER wp AS mi1, LAG(month_index, 2) OVER wp AS mi2,
           LAG(month_index, 3) OVER wp AS mi3,
           LAG(interactions, 1) OVER wp AS i1, LAG(interactions, 2) OVER wp AS i2,
           LAG(interactions, 3) OVER wp AS i3,
           LAG(branch_interactions, 1) OVER wp AS b1, LAG(branch_interactions, 2) OVER wp AS b2,
           LAG(branch_interactions, 3) OVER wp AS b3,
           LAG(online_interactions + atm_interactions, 1) OVER wp AS d1,
           LAG(online_interactions + atm_interactions, 2) OVER wp AS d2,
           LAG(online_interactions + atm_interactions, 3) OVER wp AS d3,
           LAG(relationship_balance, 1) OVER wp AS r1, LAG(relationship_balance, 2) OVER wp AS r2,
           LAG(relationship_balance, 3) OVER wp AS r3,
           LAG(complaints, 1) OVER wp AS c1, LAG(complaints, 2) OVER wp AS c2,
           LAG(avg_csat, 1) OVER wp AS s1, LAG(avg_csat, 2) OVER wp AS s2,
           -- The latest interaction so far, and its month: a later month's
           -- interactions are always later.
           MAX(last_interaction_at) OVER wp AS seen_at,
           MAX(CASE WHEN last_interaction_at IS NOT NULL THEN month_index END) OVER wp AS seen_month
    FROM m
    WINDOW wp AS (PARTITION BY customer_id ORDER BY month_index)
),
-- Which of the three rows before fall in the 3 months before (in3) and in
-- the 2 before (in2): rows come in month order, so these are the first n.
k AS (
    SELECT l.*,
           CASE WHEN mi3 >= month_index - 3 THEN 3 WHEN mi2 >= month_index - 3 THEN 2
                WHEN mi1 >= month_index - 3 THEN 1 ELSE 0 END AS in3,
           CASE WHEN mi2 >= month_index - 2 THEN 2 WHEN mi1 >= month_index - 2 THEN 1 ELSE 0 END AS in2
    FROM l
),
w AS (
    SELECT k.*,
           CASE WHEN seen_month >= month_index - 11 THEN seen_at END AS last_active,
           CAST(CASE WHEN in3 >= 1 THEN i1 ELSE 0 END + CASE WHEN in3 >= 2 THEN i2 ELSE 0 END
                + CASE WHEN in3 >= 3 THEN i3 ELSE 0 END AS DOUBLE) / NULLIF(in3, 0) AS prior_activity,
           CAST(CASE WHEN in3 >= 1 THEN b1 ELSE 0 END + CASE WHEN in3 >= 2 THEN b2 ELSE 0 END
                + CASE WHEN in3 >= 3 THEN b3 ELSE 0 END AS DOUBLE) / NULLIF(in3, 0) AS prior_branch,
           CAST(CASE WHEN in3 >= 1 THEN d1 ELSE 0 END + CASE WHEN in3 >= 2 THEN d2 ELSE 0 END
                + CASE WHEN in3 >= 3 THEN d3 ELSE 0 END AS DOUBLE) / NULLIF(in3, 0) AS prior_digital,
           -- 3 months back, or the earliest of the 3 before when fewer are loaded
           CASE in3 WHEN 3 THEN r3 WHEN 2 THEN r2 WHEN 1 THEN r1 END AS balance_3m_ago,
           complaints + CASE WHEN in2 >= 1 THEN c1 ELSE 0 END + CASE WHEN in2 >= 2 THEN c2 ELSE 0 END
               AS complaints_3m,
           -- the mean of the surveyed months' means, oldest first
           (COALESCE(CASE WHEN in2 >= 2 THEN s2 END, 0.0) + COALESCE(CASE WHEN in2 >= 1 THEN s1 END, 0.0)
            + COALESCE(avg_csat, 0.0))
           / NULLIF(CASE WHEN in2 >= 2 AND s2 IS NOT NULL THEN 1 ELSE 0 END
                    + CASE WHEN in2 >= 1 AND s1 IS NOT NULL THEN 1 ELSE 0 END
                    + CASE WHEN avg_csat IS NOT NULL THEN 1 ELSE 0 END, 0) AS csat_3m
    FROM k
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
