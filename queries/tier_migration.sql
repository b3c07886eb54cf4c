-- Tier migration: for each month, customers by their tier the month before
-- (from_tier) and this month (to_tier). 'New' = no month-end balance the month
-- before; 'Left' = none this month. A diagonal row is a customer who stayed.
WITH m AS (
    SELECT customer_id, tier, tier_rank,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index,
           period
    FROM customer_month
),
months AS (
    SELECT DISTINCT month_index, period FROM m
),
pairs AS (
    -- every customer present in either of two consecutive loaded months
    SELECT cur.period,
           COALESCE(prev.tier, 'New') AS from_tier,
           COALESCE(prev.tier_rank, 0) AS from_rank,
           cur.tier AS to_tier,
           cur.tier_rank AS to_rank
    FROM m cur
    JOIN months pm ON pm.month_index = cur.month_index - 1
    LEFT JOIN m prev ON prev.customer_id = cur.customer_id AND prev.month_index = cur.month_index - 1
    UNION ALL
    SELECT nm.period, prev.tier, prev.tier_rank, 'Left', 9
    FROM m prev
    JOIN months nm ON nm.month_index = prev.month_index + 1
    LEFT JOIN m cur ON cur.customer_id = prev.customer_id AND cur.month_index = prev.month_index + 1
    WHERE cur.customer_id IS NULL
)
SELECT period,
       from_tier,
       from_rank,
       to_tier,
       to_rank,
       COUNT(*) AS customers,
       CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (PARTITION BY period, from_tier) AS share_of_from,
       CASE WHEN from_rank = 0 OR to_rank = 9 THEN 'in/out'
            WHEN to_rank < from_rank THEN 'up'
            WHEN to_rank > from_rank THEN 'down'
            ELSE 'same' END AS direction
FROM pairs
GROUP BY period, from_tier, from_rank, to_tier, to_rank
