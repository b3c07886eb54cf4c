-- DuckDB port of queries/kpi_change.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_char(x, fmt) -> strftime(x, fmt)
--   to_date(text) -> CAST(text AS DATE)
-- What changed since last month, and why: the month-on-month change of NPS
-- and CSAT split, per dimension (channel, tier), into
--   mix         sum (w1 - w0) * r0   responses moved between segments
--   rate        sum w0 * (r1 - r0)   segments' own scores moved
--   interaction sum (w1 - w0) * (r1 - r0)
-- w = a segment's share of the month's answers to that question, r = its
-- score (NPS points, or the CSAT share scoring 4-5). Per dimension the three
-- add up exactly to the change of the bank-wide figure. A segment new this
-- month counts its whole weight as mix (r0 := r1); one gone, likewise.
--
-- Each input is read once (a CTE named twice is computed twice): the join
-- to customer_month is tallied per month, channel and tier, then spread over
-- dimensions and metrics, and each month meets the month before by a copy
-- of the rows moved one month on, not by joining the table to itself.
WITH s AS (
    SELECT s.period,
           COALESCE(s.channel, 'unknown') AS channel,
           COALESCE(cm.tier, 'Unassigned') AS tier,
           COUNT(s.nps) AS nps_n,
           SUM(CASE WHEN s.nps >= 9 THEN 1 ELSE 0 END) AS promoters,
           SUM(CASE WHEN s.nps <= 6 THEN 1 ELSE 0 END) AS detractors,
           COUNT(s.csat) AS csat_n,
           SUM(CASE WHEN s.csat >= 4 THEN 1 ELSE 0 END) AS satisfied
    FROM surveys s
    LEFT JOIN customer_month cm ON cm.customer_id = s.customer_id AND cm.period = s.period
    GROUP BY s.period, COALESCE(s.channel, 'unknown'), COALESCE(cm.tier, 'Unassigned')
),
dims AS (
    SELECT s.period, d.dimension,
           CASE WHEN d.dimension = 'channel' THEN s.channel ELSE s.tier END AS segment,
           SUM(s.nps_n) AS nps_n, SUM(s.promoters) AS promoters, SUM(s.detractors) AS detractors,
           SUM(s.csat_n) AS csat_n, SUM(s.satisfied) AS satisfied
    FROM s CROSS JOIN (VALUES ('channel'), ('tier')) AS d(dimension)
    GROUP BY s.period, d.dimension, CASE WHEN d.dimension = 'channel' THEN s.channel ELSE s.tier END
),
seg AS (
    SELECT d.period, m.metric, d.dimension, d.segment,
           CAST(CASE WHEN m.metric = 'nps' THEN d.nps_n ELSE d.csat_n END AS DOUBLE) AS n,
           CASE WHEN m.metric = 'nps'
                THEN 100.0 * (CAST(d.promoters AS DOUBLE) - CAST(d.detractors AS DOUBLE)) / NULLIF(d.nps_n, 0)
                ELSE CAST(d.satisfied AS DOUBLE) / NULLIF(d.csat_n, 0)
           END AS score
    FROM dims d CROSS JOIN (VALUES ('nps'), ('csat')) AS m(metric)
),
w AS (
    SELECT period, metric, dimension, segment, score,
           n / SUM(n) OVER (PARTITION BY period, metric, dimension) AS weight
    FROM seg
    WHERE n > 0
),
-- Every row twice: as this month's (shift 0) and as next month's previous
-- month (shift 1).
both_months AS (
    SELECT CASE WHEN k.shift = 0 THEN w.period
                ELSE strftime(CAST(w.period || '-01' AS DATE) + INTERVAL '1 month', '%Y-%m') END AS period,
           w.metric, w.dimension, w.segment,
           CASE WHEN k.shift = 0 THEN w.weight END AS w1,
           CASE WHEN k.shift = 0 THEN w.score END AS r1,
           CASE WHEN k.shift = 1 THEN w.weight END AS w0,
           CASE WHEN k.shift = 1 THEN w.score END AS r0,
           1 - k.shift AS here,
           k.shift AS was
    FROM w CROSS JOIN (VALUES (0), (1)) AS k(shift)
),
pairs AS (
    SELECT period, metric, dimension, segment,
           MAX(w0) AS w0, MAX(w1) AS w1, MAX(r0) AS r0, MAX(r1) AS r1,
           MAX(MAX(here)) OVER (PARTITION BY period) AS month_here,
           MAX(MAX(was)) OVER (PARTITION BY period) AS month_was
    FROM both_months
    GROUP BY period, metric, dimension, segment
),
-- Months with answers whose previous month has answers too.
paired AS (
    SELECT period, metric, dimension, segment,
           COALESCE(w0, 0.0) AS weight_prev,
           COALESCE(w1, 0.0) AS weight,
           COALESCE(r0, r1) AS score_prev,
           COALESCE(r1, r0) AS score
    FROM pairs
    WHERE month_here = 1 AND month_was = 1
)
SELECT period, metric, dimension, segment,
       weight_prev, weight, score_prev, score,
       (weight - weight_prev) * score_prev AS mix_effect,
       weight_prev * (score - score_prev) AS rate_effect,
       (weight - weight_prev) * (score - score_prev) AS interaction_effect,
       weight * score - weight_prev * score_prev AS contribution
FROM paired
