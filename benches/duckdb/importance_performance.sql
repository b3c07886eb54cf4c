-- DuckDB port of queries/importance_performance.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Importance-performance analysis (seed 000: the needs-performance quadrant),
-- per month, respondent tier ('All' = every respondent; 'Unassigned' without
-- a month-end balance) and touchpoint, over answers with both CSAT and NPS:
--   responses        such answers
--   performance      mean CSAT (1-5)
--   importance       derived importance: the Pearson correlation of the
--                    touchpoint's CSAT with the likelihood to recommend (0-10)
--                    in the same answers (Bacon 2003, "A comparison of approaches
--                    to importance-performance analysis", IJMR 45(1): derived
--                    importance by correlation with an overall loyalty measure)
--   importance_low/high  its 95% interval by Fisher's z:
--                    tanh(atanh(r) -/+ 1.959964 / sqrt(n - 3)); null below 4 answers
--   small_sample     fewer than 30 answers: shown, but not placed or ranked
--   mean_importance, mean_performance  the cross lines: means over the
--                    tier's touchpoints with 30 answers or more
--   quadrant         'concentrate here' (importance >= its mean, performance
--                    below its mean), 'keep up' (both at or above), 'low
--                    priority' (both below), 'possible overkill' (importance
--                    below, performance at or above); null for small samples
--   importance_clear the interval lies wholly on one side of mean_importance
--   importance_rank  1 = the most important placed touchpoint of the tier
-- The sums are integers, so r's numerator and denominator are exact; only
-- the final division and square root are floating point.
WITH answered AS (
    SELECT s.period, s.channel, s.touchpoint,
           CAST(s.csat AS BIGINT) AS x, CAST(s.nps AS BIGINT) AS y,
           COALESCE(cm.tier, 'Unassigned') AS tier,
           COALESCE(cm.tier_rank, 99) AS tier_rank
    FROM surveys s
    LEFT JOIN customer_month cm ON cm.customer_id = s.customer_id AND cm.period = s.period
    WHERE s.touchpoint IS NOT NULL AND s.channel IS NOT NULL
      AND s.csat IS NOT NULL AND s.nps IS NOT NULL
),
-- Summed per tier first; 'All' adds up the tiers' sums (exact integers), by a
-- cross join with two rows: `answered` referenced twice would be computed
-- twice (every survey read and joined again).
tier_sums AS (
    SELECT period, tier, tier_rank, channel, touchpoint,
           COUNT(*) AS n, SUM(x) AS sx, SUM(y) AS sy,
           SUM(x * x) AS sxx, SUM(y * y) AS syy, SUM(x * y) AS sxy
    FROM answered
    GROUP BY period, tier, tier_rank, channel, touchpoint
),
sums AS (
    SELECT t.period,
           CASE WHEN l.all_tiers THEN 'All' ELSE t.tier END AS tier,
           CASE WHEN l.all_tiers THEN 0 ELSE t.tier_rank END AS tier_rank,
           t.channel, t.touchpoint,
           SUM(t.n) AS n, SUM(t.sx) AS sx, SUM(t.sy) AS sy,
           SUM(t.sxx) AS sxx, SUM(t.syy) AS syy, SUM(t.sxy) AS sxy
    FROM tier_sums t CROSS JOIN (VALUES (false), (true)) AS l(all_tiers)
    GROUP BY t.period, CASE WHEN l.all_tiers THEN 'All' ELSE t.tier END,
             CASE WHEN l.all_tiers THEN 0 ELSE t.tier_rank END, t.channel, t.touchpoint
),
scored AS (
    SELECT period, tier, tier_rank, channel, touchpoint, n AS responses,
           CAST(sx AS DOUBLE) / n AS performance,
           CAST(n * sxy - sx * sy AS DOUBLE)
             / NULLIF(SQRT(CAST(n * sxx - sx * sx AS DOUBLE)) * SQRT(CAST(n * syy - sy * sy AS DOUBLE)), 0)
             AS raw_r,
           n < 30 AS small_sample
    FROM sums
),
clamped AS (
    -- |r| <= 1 exactly (Cauchy-Schwarz), but the rounding of the square
    -- roots can pass it by an ulp, which atanh turns into NaN. (Not
    -- GREATEST / LEAST: they skip a null and would turn it into 1.)
    SELECT period, tier, tier_rank, channel, touchpoint, responses, performance, small_sample,
           CASE WHEN raw_r > 1.0 THEN 1.0 WHEN raw_r < -1.0 THEN -1.0 ELSE raw_r END AS importance
    FROM scored
),
bounded AS (
    SELECT *,
           CASE WHEN responses > 3 AND importance IS NOT NULL
                THEN TANH(ATANH(importance) - 1.959963984540054 / SQRT(CAST(responses - 3 AS DOUBLE))) END
             AS importance_low,
           CASE WHEN responses > 3 AND importance IS NOT NULL
                THEN TANH(ATANH(importance) + 1.959963984540054 / SQRT(CAST(responses - 3 AS DOUBLE))) END
             AS importance_high,
           NOT small_sample AND importance IS NOT NULL AS placed
    FROM clamped
),
lines AS (
    SELECT *,
           AVG(CASE WHEN placed THEN importance END) OVER (PARTITION BY period, tier) AS mean_importance,
           AVG(CASE WHEN placed THEN performance END) OVER (PARTITION BY period, tier) AS mean_performance
    FROM bounded
)
SELECT period, tier, tier_rank, channel, touchpoint, responses, performance, importance,
       importance_low, importance_high, small_sample, mean_importance, mean_performance,
       CASE WHEN NOT placed THEN NULL
            WHEN importance >= mean_importance AND performance < mean_performance THEN 'concentrate here'
            WHEN importance >= mean_importance THEN 'keep up'
            WHEN performance < mean_performance THEN 'low priority'
            ELSE 'possible overkill'
       END AS quadrant,
       CASE WHEN placed THEN importance_low > mean_importance OR importance_high < mean_importance END
         AS importance_clear,
       CASE WHEN placed THEN RANK() OVER (PARTITION BY period, tier, placed ORDER BY importance DESC) END
         AS importance_rank
FROM lines
