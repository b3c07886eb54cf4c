-- DuckDB port of queries/satisfaction_cells.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- One month's satisfaction cells by channel, tier and purchase stage (pre/in/post);
-- 'all' rows roll a dimension up (every combination is present: a cube).
--   csat            share of responses scoring 4 or 5 (of those answering)
--   nps             % promoters (9-10) minus % detractors (0-6), in points
--   nps_low/high    95% confidence interval of nps (normal approximation:
--                   nps ± 1.96 se, se = 100 * sqrt((p + d - (p - d)^2) / n), p/d the
--                   shares; clipped to -100..100)
--   effort          mean customer effort (1 easy .. 7 hard)
--   expectation_gap mean (experience - expectation), seed 001: satisfaction is
--                   experience against expectation (CSAT is the overall rating)
--   small_sample    fewer than 30 responses: too few to report
-- Tier is the respondent's tier that month ('Unassigned' without a month-end balance).
-- A month reads only its own surveys and customer-months, so a big bank's year is
-- built a few months at a time; satisfaction_monthly compares the cells across months.
WITH s AS (
    SELECT s.period,
           COALESCE(s.channel, 'unknown') AS channel,
           COALESCE(cm.tier, 'Unassigned') AS tier,
           COALESCE(s.stage, 'unknown') AS stage,
           s.csat, s.nps, s.effort, s.experience, s.expectation
    FROM surveys s
    LEFT JOIN customer_month cm ON cm.customer_id = s.customer_id AND cm.period = s.period
),
agg AS (
    SELECT period,
           COALESCE(channel, 'all') AS channel,
           COALESCE(tier, 'all') AS tier,
           COALESCE(stage, 'all') AS stage,
           COUNT(*) AS responses,
           CAST(SUM(CASE WHEN csat >= 4 THEN 1 ELSE 0 END) AS DOUBLE) / NULLIF(COUNT(csat), 0) AS csat,
           CAST(SUM(CASE WHEN nps >= 9 THEN 1 ELSE 0 END) AS DOUBLE) / NULLIF(COUNT(nps), 0) AS promoters,
           CAST(SUM(CASE WHEN nps <= 6 THEN 1 ELSE 0 END) AS DOUBLE) / NULLIF(COUNT(nps), 0) AS detractors,
           COUNT(nps) AS nps_n,
           AVG(CAST(effort AS DOUBLE)) AS effort,
           AVG(CAST(experience - expectation AS DOUBLE)) AS expectation_gap
    FROM s
    GROUP BY period, CUBE (channel, tier, stage)
),
cells AS (
    SELECT *,
           100.0 * (promoters - detractors) AS nps,
           100.0 * sqrt((promoters + detractors - (promoters - detractors) * (promoters - detractors)) / nps_n) AS nps_se
    FROM agg
)
SELECT period,
       channel,
       tier,
       stage,
       responses,
       csat,
       nps,
       greatest(nps - 1.96 * nps_se, -100.0) AS nps_low,
       least(nps + 1.96 * nps_se, 100.0) AS nps_high,
       effort,
       expectation_gap,
       responses < 30 AS small_sample
FROM cells
