-- DuckDB port of queries/profit_curve.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- The profit (Pareto / Lorenz, or "whale") curve per month and tier ('All' =
-- every customer): customers ranked by profit, most profitable first, and at
-- each percentile p of profit_curve_points (1..100) the cumulative profit of the
-- top floor(p x n / 100) customers and its share of the total. The row at p = 20 answers "what share
-- of the profit comes from the top 20%"; with negative-profit customers the
-- curve rises above 1 and falls back to 1 at p = 100. profit_share is null when
-- the total is not positive (a share of a loss reads backwards).
-- Ties in profit are broken by customer id; the cumulative sum does not
-- depend on how (tied customers add the same amount).
WITH both_levels AS (
    SELECT period, tier, tier_rank, customer_id, profit FROM customer_profit
    UNION ALL
    SELECT period, 'All' AS tier, 0 AS tier_rank, customer_id, profit FROM customer_profit
),
ranked AS (
    SELECT period, tier,
           ROW_NUMBER() OVER (PARTITION BY period, tier ORDER BY profit DESC, customer_id) AS position,
           -- A running sum: (profit, customer_id) is unique within a month and
           -- tier, so the rows so far are the peers so far. Over ROWS it is
           -- carried down the rows; over the default RANGE frame DataFusion
           -- looked up each row's peers (the window: 3.07 s of CPU at 100k
           -- customers, 0.69 s over ROWS).
           SUM(profit) OVER (PARTITION BY period, tier ORDER BY profit DESC, customer_id
                             ROWS UNBOUNDED PRECEDING) AS cumulative_profit
    FROM both_levels
),
totals AS (
    SELECT period, tier, tier_rank, COUNT(*) AS n, SUM(profit) AS total_profit
    FROM both_levels
    GROUP BY period, tier, tier_rank
),
-- The rows some percentile p in 1..100 cuts at (position = floor(p n / 100)):
-- with p the smallest whole percentile reaching the row, ceil(100 position / n),
-- the cut lands on the row itself. At most 100 rows per month and tier, so the
-- join below pairs two small tables. The month and tier's count n comes
-- from the few rows of totals, named first so they are the side the join
-- holds (the ranked rows stream past them); counting from the other end
-- instead was a second sort of every row (0.6 s of CPU at 100k customers).
at_cuts AS (
    SELECT r.period, r.tier, r.position, r.cumulative_profit
    FROM totals t
    JOIN (SELECT period, tier, cumulative_profit, CAST(position AS BIGINT) AS position FROM ranked) AS r
      ON r.period = t.period AND r.tier = t.tier
    WHERE ((100 * r.position + t.n - 1) / t.n) * t.n / 100 = r.position
),
cuts AS (
    SELECT t.period, t.tier, t.tier_rank, t.n, t.total_profit, p.percentile,
           (p.percentile * t.n) / 100 AS top_customers
    FROM totals t
    CROSS JOIN profit_curve_points p
)
SELECT c.period,
       c.tier,
       c.tier_rank,
       c.percentile,
       c.top_customers,
       CAST(c.top_customers AS DOUBLE) / c.n AS customer_share,
       COALESCE(r.cumulative_profit, 0) AS cumulative_profit,
       CASE WHEN c.total_profit > 0
            THEN CAST(COALESCE(r.cumulative_profit, 0) AS DOUBLE) / CAST(c.total_profit AS DOUBLE)
       END AS profit_share
FROM cuts c
LEFT JOIN at_cuts r ON r.period = c.period AND r.tier = c.tier AND r.position = c.top_customers
