-- What changed since last month, and why: the month-on-month change of NPS
-- and CSAT split, per dimension (channel, tier), into
--   mix         sum (w1 - w0) * r0   responses moved between segments
--   rate        sum w0 * (r1 - r0)   segments' own scores moved
--   interaction sum (w1 - w0) * (r1 - r0)
-- w = a segment's share of the month's answers to that question, r = its
-- score (NPS points, or the CSAT share scoring 4-5). Per dimension the three
-- add up exactly to the change of the bank-wide figure. A segment new this
-- month counts its whole weight as mix (r0 := r1); one gone, likewise.
WITH s AS (
    SELECT s.period,
           COALESCE(s.channel, 'unknown') AS channel,
           COALESCE(cm.tier, 'Unassigned') AS tier,
           s.nps, s.csat
    FROM surveys s
    LEFT JOIN customer_month cm ON cm.customer_id = s.customer_id AND cm.period = s.period
),
long AS (
    SELECT period, 'channel' AS dimension, channel AS segment, nps, csat FROM s
    UNION ALL
    SELECT period, 'tier' AS dimension, tier AS segment, nps, csat FROM s
),
seg AS (
    SELECT period, 'nps' AS metric, dimension, segment,
           CAST(COUNT(nps) AS DOUBLE) AS n,
           100.0 * (CAST(SUM(CASE WHEN nps >= 9 THEN 1 ELSE 0 END) AS DOUBLE)
                  - CAST(SUM(CASE WHEN nps <= 6 THEN 1 ELSE 0 END) AS DOUBLE)) / NULLIF(COUNT(nps), 0) AS score
    FROM long GROUP BY period, dimension, segment
    UNION ALL
    SELECT period, 'csat' AS metric, dimension, segment,
           CAST(COUNT(csat) AS DOUBLE) AS n,
           CAST(SUM(CASE WHEN csat >= 4 THEN 1 ELSE 0 END) AS DOUBLE) / NULLIF(COUNT(csat), 0) AS score
    FROM long GROUP BY period, dimension, segment
),
w AS (
    SELECT period, metric, dimension, segment, score,
           n / SUM(n) OVER (PARTITION BY period, metric, dimension) AS weight
    FROM seg
    WHERE n > 0
),
months AS (
    SELECT DISTINCT period,
           to_char(to_date(period || '-01') - INTERVAL '1 month', '%Y-%m') AS prev_period
    FROM w
),
keys AS (
    SELECT m.period, m.prev_period, k.metric, k.dimension, k.segment
    FROM months m
    JOIN (SELECT DISTINCT period, metric, dimension, segment FROM w) k
      ON k.period = m.period OR k.period = m.prev_period
    WHERE m.prev_period IN (SELECT period FROM w)
    GROUP BY m.period, m.prev_period, k.metric, k.dimension, k.segment
),
pairs AS (
    SELECT k.period, k.metric, k.dimension, k.segment,
           COALESCE(p.weight, 0.0) AS weight_prev,
           COALESCE(c.weight, 0.0) AS weight,
           COALESCE(p.score, c.score) AS score_prev,
           COALESCE(c.score, p.score) AS score
    FROM keys k
    LEFT JOIN w c ON c.period = k.period AND c.metric = k.metric AND c.dimension = k.dimension AND c.segment = k.segment
    LEFT JOIN w p ON p.period = k.prev_period AND p.metric = k.metric AND p.dimension = k.dimension AND p.segment = k.segment
)
SELECT period, metric, dimension, segment,
       weight_prev, weight, score_prev, score,
       (weight - weight_prev) * score_prev AS mix_effect,
       weight_prev * (score - score_prev) AS rate_effect,
       (weight - weight_prev) * (score - score_prev) AS interaction_effect,
       weight * score - weight_prev * score_prev AS contribution
FROM pairs
