-- Satisfaction per month and channel ('all' = every channel):
--   csat            share of responses scoring 4 or 5 (of those answering)
--   nps             % promoters (9-10) minus % detractors (0-6), in points
--   effort          mean customer effort (1 easy .. 7 hard)
--   expectation_gap mean (csat - expectation): experience minus expectation
--   small_sample    fewer than 30 responses: too few to report
WITH s AS (
    SELECT period, channel, csat, nps, effort, expectation FROM surveys
    UNION ALL
    SELECT period, 'all' AS channel, csat, nps, effort, expectation FROM surveys
)
SELECT period,
       channel,
       COUNT(*) AS responses,
       CAST(SUM(CASE WHEN csat >= 4 THEN 1 ELSE 0 END) AS DOUBLE) / NULLIF(COUNT(csat), 0) AS csat,
       100.0 * CAST(SUM(CASE WHEN nps >= 9 THEN 1 ELSE 0 END) - SUM(CASE WHEN nps <= 6 THEN 1 ELSE 0 END) AS DOUBLE)
           / NULLIF(COUNT(nps), 0) AS nps,
       AVG(CAST(effort AS DOUBLE)) AS effort,
       AVG(CAST(csat - expectation AS DOUBLE)) AS expectation_gap,
       COUNT(*) < 30 AS small_sample
FROM s
GROUP BY period, channel
