-- A transparent churn-risk score, 0..1, as the sum of four point rules
-- (100 points = 1.0). Every point has a reason a relationship manager can read:
--   activity   30 if silent this month after activity in the prior 3 months,
--              20 if below half the prior 3-month average (needs 2+ prior months)
--   outflow    30 if relationship balance fell > 20% against 3 months ago, 15 if > 10%
--   complaints 10 per complaint in the last 3 months, at most 20
--   unhappy    20 if mean CSAT over the last 3 months <= 2, 10 if below 3
-- band: high >= 0.5, medium >= 0.25; balance_at_risk = balance x score.
-- Thresholds compare exact integers: a float average over a sliding window
-- keeps a running sum and drifts by an ulp (three 3.0s averaged to
-- 2.9999999999999991, "below 3"), which would flip a rule.
-- The months before by month number: each row is also counted as the
-- 1st, 2nd and 3rd month before the three after it (k), and one grouping
-- per customer and month gathers them. A month missing from a customer's
-- history is not skipped over, a month reads the 3 before it alone
-- (incremental: lookback 3), and the grouping spills to disk when memory
-- is short (three self-joins ran out of the 512 MB pool at 100k
-- customers; LAG windows were slow over many small partitions).
WITH cm AS (
    SELECT customer_id, period, tier_rank, relationship_balance, interactions, complaints,
           csat_sum, csat_n,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM customer_month
),
-- Each row repeated for k = 0..3 by `unnest`, which keeps the rows in the
-- order they come. The running first month is at or before every month, so
-- its condition below keeps every row; it is there for the window's sort:
-- with each customer's rows together (and partitioned by customer), the
-- grouping below finishes a customer's months when the next customer
-- starts, instead of holding all 1.1M customer-months (at 100k it spilled
-- 300 MB: the query 2.2 -> 1.3 s, 346 -> 251 MB, the same rows).
shifted AS (
    SELECT cm.customer_id, cm.tier_rank, cm.relationship_balance, cm.interactions, cm.complaints,
           cm.csat_sum, cm.csat_n, cm.k, cm.month_index + cm.k AS at_month
    FROM (SELECT cm.*, unnest(make_array(0, 1, 2, 3)) AS k,
                 MIN(month_index) OVER (PARTITION BY customer_id ORDER BY month_index ROWS UNBOUNDED PRECEDING) AS first_month
          FROM cm) cm
    -- No month after the last one read has a row of its own: its groups
    -- would be dropped below, after taking a fifth of the grouping's memory.
    WHERE cm.month_index + cm.k <= (SELECT MAX(month_index) FROM cm)
      AND cm.first_month <= cm.month_index
),
f AS (
    SELECT customer_id,
           -- the period from the month number, the grouping's key: a run
           -- rebuilding a few months filters the shifted rows before grouping
           concat(CAST((at_month - 1) / 12 AS VARCHAR), '-',
                  lpad(CAST((at_month - 1) % 12 + 1 AS VARCHAR), 2, '0')) AS period,
           MAX(CASE WHEN k = 0 THEN tier_rank END) AS tier_rank,
           MAX(CASE WHEN k = 0 THEN relationship_balance END) AS relationship_balance,
           MAX(CASE WHEN k = 0 THEN interactions END) AS interactions,
           COALESCE(SUM(CASE WHEN k >= 1 THEN interactions END), 0) AS prior_sum,
           COUNT(CASE WHEN k >= 1 THEN 1 END) AS prior_months,
           MAX(CASE WHEN k = 3 THEN relationship_balance END) AS balance_3m_ago,
           SUM(CASE WHEN k <= 2 THEN complaints END) AS complaints_3m,
           -- This month's and the two before: CSAT sum and count each.
           MAX(CASE WHEN k = 0 THEN csat_sum END) AS s0, MAX(CASE WHEN k = 0 THEN csat_n END) AS n0,
           MAX(CASE WHEN k = 1 THEN csat_sum END) AS s1, MAX(CASE WHEN k = 1 THEN csat_n END) AS n1,
           MAX(CASE WHEN k = 2 THEN csat_sum END) AS s2, MAX(CASE WHEN k = 2 THEN csat_n END) AS n2
    FROM shifted
    GROUP BY customer_id, at_month
    -- only the months the customer has a row for
    HAVING COUNT(CASE WHEN k = 0 THEN 1 END) = 1
),
-- The mean of the surveyed months' mean CSAT as a fraction csat_num /
-- csat_den (sum of s_i / n_i over k months, over k): a month without a
-- survey counts neither way.
c AS (
    SELECT *,
           CASE WHEN n0 > 0 THEN n0 ELSE 1 END AS d0,
           CASE WHEN n1 > 0 THEN n1 ELSE 1 END AS d1,
           CASE WHEN n2 > 0 THEN n2 ELSE 1 END AS d2,
           CASE WHEN n0 > 0 THEN s0 ELSE 0 END AS e0,
           CASE WHEN n1 > 0 THEN s1 ELSE 0 END AS e1,
           CASE WHEN n2 > 0 THEN s2 ELSE 0 END AS e2,
           (CASE WHEN n0 > 0 THEN 1 ELSE 0 END) + (CASE WHEN n1 > 0 THEN 1 ELSE 0 END)
               + (CASE WHEN n2 > 0 THEN 1 ELSE 0 END) AS csat_months
    FROM f
),
m AS (
    SELECT *,
           e0 * d1 * d2 + e1 * d0 * d2 + e2 * d0 * d1 AS csat_num,
           csat_months * d0 * d1 * d2 AS csat_den
    FROM c
),
p AS (
    SELECT *,
           -- interactions < half the prior mean  <=>  2 * interactions * months < sum
           CASE WHEN prior_months >= 2 AND interactions = 0 AND prior_sum > 0 THEN 30
                WHEN prior_months >= 2 AND 2 * interactions * prior_months < prior_sum THEN 20
                ELSE 0 END AS pts_activity,
           -- Decimals times whole numbers: exact, so exactly -20% is not "more than 20%".
           CASE WHEN balance_3m_ago > 0 AND relationship_balance * 10 < balance_3m_ago * 8 THEN 30
                WHEN balance_3m_ago > 0 AND relationship_balance * 10 < balance_3m_ago * 9 THEN 15
                ELSE 0 END AS pts_outflow,
           CASE WHEN complaints_3m >= 2 THEN 20 WHEN complaints_3m = 1 THEN 10 ELSE 0 END AS pts_complaints,
           CASE WHEN csat_den > 0 AND csat_num <= 2 * csat_den THEN 20
                WHEN csat_den > 0 AND csat_num < 3 * csat_den THEN 10
                ELSE 0 END AS pts_unhappy
    FROM m
),
s AS (
    SELECT *, (pts_activity + pts_outflow + pts_complaints + pts_unhappy) AS points FROM p
)
SELECT s.customer_id,
       s.period,
       r.tier,
       s.tier_rank,
       relationship_balance,
       points,
       points / 100.0 AS score,
       CASE WHEN points >= 50 THEN 'high' WHEN points >= 25 THEN 'medium' ELSE 'low' END AS band,
       pts_activity,
       pts_outflow,
       pts_complaints,
       pts_unhappy,
       concat_ws('; ',
           CASE WHEN pts_activity > 0 THEN 'activity down' END,
           CASE WHEN pts_outflow > 0 THEN 'balance outflow' END,
           CASE WHEN pts_complaints > 0 THEN 'recent complaints' END,
           CASE WHEN pts_unhappy > 0 THEN 'low satisfaction' END) AS reasons,
       -- exact: money stays decimal so sums do not depend on row order
       CAST(relationship_balance * CAST(points AS DECIMAL(3, 0)) / 100 AS DECIMAL(22, 4)) AS balance_at_risk
-- The tier's name by its rank after grouping (customer_month took it from
-- tier_rules the same way): a text maximum per group made the grouping's
-- state larger and spill more (3.6-4.0 s against 4.2-4.9 s at 100k). The
-- few tiers are named first, the side a join holds: the grouped rows have
-- no row count for the planner to see they are the bigger side (it held
-- all 1.09M of them at 100k, 1.5 s).
FROM tier_rules r
RIGHT JOIN s ON r.tier_rank = s.tier_rank
