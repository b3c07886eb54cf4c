-- DuckDB port of queries/churn_features.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_date(text) -> CAST(text AS DATE)
--   make_array(a, …) -> [a, …] (a DuckDB list)
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
-- The months before by month number: each row is also counted as the
-- 1st, 2nd and 3rd month before the three after it (k), and one grouping
-- per customer and month gathers them. A month missing from a customer's
-- history is not skipped over, a month reads the 11 months before it and
-- the 3 after it, nothing else (incremental: lookback 11, lookahead 3), and
-- the grouping spills to disk when memory is short (self-joins ran out of
-- the 512 MB pool at 100k customers; LAG windows were slow). Each row is
-- repeated by `unnest`, which keeps the rows in customer order, so the
-- grouping, partitioned by customer like its input, finishes a customer's
-- groups when the next customer starts (a cross join with the four k
-- interleaved them batch by batch: 264 MB of the grouping spilled at 100k,
-- and the query took 2.8 s instead of 1.9). The period is
-- made from the month number, the grouping's key, so a run that rebuilds
-- four months filters the shifted rows to them before grouping (it grouped
-- all twelve months' rows and kept four months' groups).
WITH m AS (
    SELECT *,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM customer_month
),
-- The latest interaction so far and its month (a later month's
-- interactions are always later), kept if within this month and the 11
-- before: a running maximum over each customer's months, taken before the
-- rows are shifted so that the grouping below can be filtered by month.
-- Over rows: a customer has one row a month (customer_month is unique by
-- customer and period), and a running maximum over rows is carried, not
-- recomputed per row: the window took 1.58 → 0.77 s of CPU at 100k customers.
ma AS (
    SELECT m.*,
           CASE WHEN MAX(CASE WHEN last_interaction_at IS NOT NULL THEN month_index END) OVER wp >= month_index - 11
                THEN MAX(last_interaction_at) OVER wp END AS last_active
    FROM m
    WINDOW wp AS (PARTITION BY customer_id ORDER BY month_index ROWS UNBOUNDED PRECEDING)
),
shifted AS (
    SELECT ma.customer_id, ma.tier_rank, ma.relationship_balance, ma.opened_date, ma.interactions, ma.branch_interactions, ma.online_interactions, ma.atm_interactions, ma.tenure_months, ma.products_held, ma.closed_date, ma.last_active,
           ma.complaints, ma.avg_csat, ma.k, ma.month_index + ma.k AS at_month
    FROM (SELECT ma.*, unnest([0, 1, 2, 3]) AS k FROM ma) ma
    -- No month after the last one read has a row of its own: its groups
    -- would be dropped below, after taking a fifth of the grouping's memory.
    WHERE ma.month_index + ma.k <= (SELECT MAX(month_index) FROM m)
),
g AS (
    SELECT customer_id,
           at_month AS month_index,
           MAX(CASE WHEN k = 0 THEN tier_rank END) AS tier_rank,
           MAX(CASE WHEN k = 0 THEN relationship_balance END) AS relationship_balance,
           MAX(CASE WHEN k = 0 THEN opened_date END) AS opened_date,
           MAX(CASE WHEN k = 0 THEN interactions END) AS interactions,
           MAX(CASE WHEN k = 0 THEN branch_interactions END) AS branch_interactions,
           MAX(CASE WHEN k = 0 THEN online_interactions END) AS online_interactions,
           MAX(CASE WHEN k = 0 THEN atm_interactions END) AS atm_interactions,
           MAX(CASE WHEN k = 0 THEN tenure_months END) AS tenure_months,
           MAX(CASE WHEN k = 0 THEN products_held END) AS products_held,
           MAX(CASE WHEN k = 0 THEN closed_date END) AS closed_date,
           MAX(CASE WHEN k = 0 THEN last_active END) AS last_active,
           COUNT(CASE WHEN k >= 1 THEN 1 END) AS prior_months,
           SUM(CASE WHEN k >= 1 THEN interactions END) AS prior_interactions,
           SUM(CASE WHEN k >= 1 THEN branch_interactions END) AS prior_branch_interactions,
           SUM(CASE WHEN k >= 1 THEN online_interactions + atm_interactions END) AS prior_digital_interactions,
           -- 3 months back, or the earliest of the 3 before when fewer are loaded
           COALESCE(MAX(CASE WHEN k = 3 THEN relationship_balance END),
                    MAX(CASE WHEN k = 2 THEN relationship_balance END),
                    MAX(CASE WHEN k = 1 THEN relationship_balance END)) AS balance_3m_ago,
           SUM(CASE WHEN k <= 2 THEN complaints END) AS complaints_3m,
           -- the mean of the surveyed months' means, oldest first
           (COALESCE(MAX(CASE WHEN k = 2 THEN avg_csat END), 0.0)
            + COALESCE(MAX(CASE WHEN k = 1 THEN avg_csat END), 0.0)
            + COALESCE(MAX(CASE WHEN k = 0 THEN avg_csat END), 0.0))
           / NULLIF(COUNT(CASE WHEN k <= 2 THEN avg_csat END), 0) AS csat_3m
    FROM shifted
    GROUP BY customer_id, at_month
    -- only the months the customer has a row for
    HAVING COUNT(CASE WHEN k = 0 THEN 1 END) = 1
),
-- The period from the month number, the grouping's key, so that a run
-- rebuilding a few months keeps only their rows before grouping.
w AS (
    SELECT g.*,
           concat(CAST((month_index - 1) / 12 AS VARCHAR), '-',
                  lpad(CAST((month_index - 1) % 12 + 1 AS VARCHAR), 2, '0')) AS period,
           CAST(prior_interactions AS DOUBLE) / NULLIF(prior_months, 0) AS prior_activity,
           CAST(prior_branch_interactions AS DOUBLE) / NULLIF(prior_months, 0) AS prior_branch,
           CAST(prior_digital_interactions AS DOUBLE) / NULLIF(prior_months, 0) AS prior_digital
    FROM g
),
last_loaded AS (
    SELECT MAX(month_index) AS last_month, CAST(MIN(period) || '-01' AS DATE) AS first_day FROM m
)
SELECT w.customer_id,
       w.period,
       r.tier,
       w.tier_rank,
       w.relationship_balance,
       floor((date_part('epoch', CAST(CAST(w.period || '-01' AS DATE) + INTERVAL '1 month' AS TIMESTAMP))
        - date_part('epoch', COALESCE(CAST(w.last_active AS TIMESTAMP),
                                      CAST(greatest(w.opened_date, l.first_day,
                                                    CAST(w.period || '-01' AS DATE) - INTERVAL '11 months') AS TIMESTAMP)))) / 86400.0) AS days_inactive,
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
-- The tier's name by its rank after grouping, as customer_month took it: no
-- text in the grouping's state (4.8-4.9 s against 5.2-5.5 s at 100k). The
-- few tiers first, the side a join holds (the grouped rows have no row
-- count for the planner to see they are the bigger side).
FROM tier_rules r
RIGHT JOIN (last_loaded l CROSS JOIN w) ON r.tier_rank = w.tier_rank
