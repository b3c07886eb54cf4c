-- Satisfaction per month by channel, tier and purchase stage (pre/in/post);
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
--   nps_prev / nps_change_mom    the same cell last month and the change
--   nps_year_ago / nps_change_yoy   the same cell 12 months earlier and the change
-- Tier is the respondent's tier that month ('Unassigned' without a month-end balance).
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
           100.0 * sqrt((promoters + detractors - (promoters - detractors) * (promoters - detractors)) / nps_n) AS nps_se,
           to_char(to_date(period || '-01') - INTERVAL '1 month', '%Y-%m') AS prev_period,
           to_char(to_date(period || '-01') - INTERVAL '12 months', '%Y-%m') AS year_ago_period
    FROM agg
)
SELECT c.period,
       c.channel,
       c.tier,
       c.stage,
       c.responses,
       c.csat,
       c.nps,
       greatest(c.nps - 1.96 * c.nps_se, -100.0) AS nps_low,
       least(c.nps + 1.96 * c.nps_se, 100.0) AS nps_high,
       c.effort,
       c.expectation_gap,
       c.responses < 30 AS small_sample,
       p.nps AS nps_prev,
       c.nps - p.nps AS nps_change_mom,
       y.nps AS nps_year_ago,
       c.nps - y.nps AS nps_change_yoy,
       c.csat - p.csat AS csat_change_mom
FROM cells c
LEFT JOIN cells p ON p.period = c.prev_period AND p.channel = c.channel AND p.tier = c.tier AND p.stage = c.stage
LEFT JOIN cells y ON y.period = c.year_ago_period AND y.channel = c.channel AND y.tier = c.tier AND y.stage = c.stage
