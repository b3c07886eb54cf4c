-- DuckDB port of queries/tier_migration.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Tier migration: for each month, customers by their tier the month before
-- (from_tier) and this month (to_tier). 'New' = no month-end balance the month
-- before; 'Left' = none this month. A diagonal row is a customer who stayed.
--
-- Months are paired by aggregation rather than a self-join, so memory stays
-- bounded (an aggregate spills; a hash join's build side cannot): each row
-- is listed as itself and, a month on, as the next month's "before", then
-- grouped by customer and month. Tiers travel as their ranks and get their
-- names back at the end, because grouping numbers is several times faster
-- than taking the MAX of strings.
WITH m AS (
    SELECT customer_id, tier, tier_rank, period,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM customer_month
),
names AS (SELECT DISTINCT tier_rank, tier FROM m),
months AS (SELECT DISTINCT month_index, period FROM m),
shifted AS (
    SELECT customer_id, month_index, CAST(NULL AS BIGINT) AS from_rank, tier_rank AS to_rank FROM m
    UNION ALL
    SELECT customer_id, month_index + 1, tier_rank, NULL FROM m
),
moves AS (
    -- every customer present in either of two consecutive loaded months
    SELECT month_index, from_rank, to_rank, COUNT(*) AS customers
    FROM (
        SELECT customer_id, month_index, MAX(from_rank) AS from_rank, MAX(to_rank) AS to_rank
        FROM shifted
        GROUP BY customer_id, month_index
    ) paired
    GROUP BY month_index, from_rank, to_rank
),
pairs AS (
    SELECT cur.period,
           COALESCE(f.tier, 'New') AS from_tier,
           COALESCE(moves.from_rank, 0) AS from_rank,
           COALESCE(t.tier, 'Left') AS to_tier,
           COALESCE(moves.to_rank, 9) AS to_rank,
           moves.customers
    FROM moves
    JOIN months cur ON cur.month_index = moves.month_index
    JOIN months pm ON pm.month_index = moves.month_index - 1
    LEFT JOIN names f ON f.tier_rank = moves.from_rank
    LEFT JOIN names t ON t.tier_rank = moves.to_rank
)
SELECT period,
       from_tier,
       from_rank,
       to_tier,
       to_rank,
       -- COALESCE keeps the column non-null, as a COUNT is.
       COALESCE(SUM(customers), 0) AS customers,
       CAST(SUM(customers) AS DOUBLE) / SUM(SUM(customers)) OVER (PARTITION BY period, from_tier) AS share_of_from,
       CASE WHEN from_rank = 0 OR to_rank = 9 THEN 'in/out'
            WHEN to_rank < from_rank THEN 'up'
            WHEN to_rank > from_rank THEN 'down'
            ELSE 'same' END AS direction
FROM pairs
GROUP BY period, from_tier, from_rank, to_tier, to_rank
