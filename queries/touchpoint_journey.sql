-- The CEM touchpoint map (seeds 000, 001): per month, the respondent's tier
-- that month ('All' = every respondent; 'Unassigned' without a month-end
-- balance), purchase stage (pre / in / post) and touchpoint, from surveys:
--   responses
--   csat            share of CSAT answers scoring 4-5 (top two)
--   top_box         share scoring 5 ("only very satisfied customers are loyal")
--   nps             % promoters (9-10) - % detractors (0-6), points
--   effort          mean customer effort (1-7, lower is easier)
--   expectation_gap mean of experience - expectation, over answers with both
--   complaint_share share of responses from customers who complained that month
--   small_sample    fewer than 30 responses
--   key_moment, moment  the touchpoint is a key moment (seed key_moments)
--   csat_rank       1 = the lowest CSAT of the month and tier among
--                   touchpoints with 30 responses or more (null below)
WITH answered AS (
    SELECT s.period, s.stage, s.channel, s.touchpoint, s.csat, s.nps, s.effort, s.experience, s.expectation,
           COALESCE(cm.tier, 'Unassigned') AS tier,
           COALESCE(cm.tier_rank, 99) AS tier_rank,
           COALESCE(cm.complaints, 0) > 0 AS complained
    FROM surveys s
    LEFT JOIN customer_month cm ON cm.customer_id = s.customer_id AND cm.period = s.period
    WHERE s.touchpoint IS NOT NULL AND s.stage IS NOT NULL
),
-- Each survey in its tier and again in 'All', by a cross join with two rows:
-- `answered` referenced twice would be computed twice (every survey read
-- and joined again). The averages are of whole numbers, so exact either way.
both_levels AS (
    SELECT a.period, a.stage, a.channel, a.touchpoint, a.csat, a.nps, a.effort, a.experience, a.expectation,
           CASE WHEN l.all_tiers THEN 'All' ELSE a.tier END AS tier,
           CASE WHEN l.all_tiers THEN 0 ELSE a.tier_rank END AS tier_rank,
           a.complained
    FROM answered a CROSS JOIN (VALUES (false), (true)) AS l(all_tiers)
),
scored AS (
    SELECT period, tier, tier_rank, stage, channel, touchpoint,
           COUNT(*) AS responses,
           AVG(CASE WHEN csat >= 4 THEN 1.0 WHEN csat IS NOT NULL THEN 0.0 END) AS csat,
           AVG(CASE WHEN csat = 5 THEN 1.0 WHEN csat IS NOT NULL THEN 0.0 END) AS top_box,
           100.0 * AVG(CASE WHEN nps >= 9 THEN 1.0 WHEN nps <= 6 THEN -1.0 WHEN nps IS NOT NULL THEN 0.0 END) AS nps,
           AVG(CAST(effort AS DOUBLE)) AS effort,
           AVG(CAST(experience - expectation AS DOUBLE)) AS expectation_gap,
           AVG(CASE WHEN complained THEN 1.0 ELSE 0.0 END) AS complaint_share,
           COUNT(*) < 30 AS small_sample
    FROM both_levels
    GROUP BY period, tier, tier_rank, stage, channel, touchpoint
)
SELECT s.period, s.tier, s.tier_rank, s.stage,
       CASE s.stage WHEN 'pre' THEN 1 WHEN 'in' THEN 2 WHEN 'post' THEN 3 ELSE 4 END AS stage_order,
       s.channel, s.touchpoint, s.responses, s.csat, s.top_box, s.nps, s.effort, s.expectation_gap,
       s.complaint_share, s.small_sample,
       k.moment IS NOT NULL AS key_moment,
       k.moment,
       CASE WHEN NOT s.small_sample AND s.csat IS NOT NULL
            THEN RANK() OVER (PARTITION BY s.period, s.tier, s.small_sample OR s.csat IS NULL ORDER BY s.csat)
       END AS csat_rank
FROM scored s
LEFT JOIN key_moments k ON k.touchpoint = s.touchpoint AND k.stage = s.stage
