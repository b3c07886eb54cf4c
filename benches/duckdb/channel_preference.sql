-- DuckDB port of queries/channel_preference.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Which channels each age group uses, per month: interactions per channel,
-- online banking split by the session's channel (web, mobile, messaging),
-- by the customer's age in the month's year (year - birth_year): 'under 30',
-- '30-44', '45-59', '60+', 'unknown' (no birth year on the customer master);
-- 'All' = every age (band_order 0).
--   interactions  the band's interactions in the channel
--   customers     the band's customers with at least one of them
--   share         the channel's share of the band's interactions
WITH touches AS (
    SELECT customer_id, period, 'atm' AS channel FROM atm
    UNION ALL
    SELECT customer_id, period, 'branch' FROM branch_visits
    UNION ALL
    SELECT customer_id, period, COALESCE(channel, 'online') FROM online_sessions
    UNION ALL
    SELECT customer_id, period, 'call_centre' FROM calls
),
-- Counted per customer first: the bands then add up a row per customer and
-- channel instead of counting distinct ids over every interaction, whose
-- final aggregate cannot spill and outgrew its share of the 512 MB pool at
-- 20,000 customers x 12 months.
per_customer AS (
    SELECT period, channel, customer_id, COUNT(*) AS n
    FROM touches
    GROUP BY period, channel, customer_id
),
aged AS (
    SELECT t.period, t.channel, t.customer_id, t.n,
           CAST(substr(t.period, 1, 4) AS BIGINT) - c.birth_year AS age
    FROM per_customer t
    LEFT JOIN customers c ON c.customer_id = t.customer_id
),
banded AS (
    SELECT period, channel, customer_id, n,
           CASE WHEN age IS NULL THEN 'unknown'
                WHEN age < 30 THEN 'under 30'
                WHEN age < 45 THEN '30-44'
                WHEN age < 60 THEN '45-59'
                ELSE '60+' END AS age_band,
           CASE WHEN age IS NULL THEN 5
                WHEN age < 30 THEN 1
                WHEN age < 45 THEN 2
                WHEN age < 60 THEN 3
                ELSE 4 END AS band_order
    FROM aged
),
-- Every row once in its band and once in 'All': a cross join with two
-- rows, not a UNION ALL of two references to `banded`, which DataFusion
-- would compute twice (every interaction read, counted and joined again).
both_levels AS (
    SELECT b.period, b.channel, b.customer_id, b.n,
           CASE WHEN l.all_ages THEN 'All' ELSE b.age_band END AS age_band,
           CASE WHEN l.all_ages THEN 0 ELSE b.band_order END AS band_order
    FROM banded b CROSS JOIN (VALUES (false), (true)) AS l(all_ages)
)
SELECT period,
       age_band,
       band_order,
       channel,
       SUM(n) AS interactions,
       COUNT(*) AS customers,
       CAST(SUM(n) AS DOUBLE) / SUM(SUM(n)) OVER (PARTITION BY period, age_band) AS share
FROM both_levels
GROUP BY period, age_band, band_order, channel
