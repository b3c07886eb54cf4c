-- DuckDB port of queries/headline_facts.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_char(x, fmt) -> strftime(x, fmt)
--   to_date(text) -> CAST(text AS DATE)
-- The month's candidate headlines, one row per kind, each the biggest move
-- of its kind against the month before (the report words them):
--   churn_risk  the tier whose high-risk share moved most (points)
--   nps         bank-wide NPS (points)
--   channel     the channel whose share of interactions moved most (points)
--   alerts      how many service alerts fired (value) and last month (prev)
--   balance_at_risk  total balance at risk (value, prev, change in %)
WITH months AS (
    SELECT period, strftime(CAST(period || '-01' AS DATE) - INTERVAL '1 month', '%Y-%m') AS prev_period
    FROM kpi_monthly
),
churn AS (
    SELECT m.period, 'churn_risk' AS kind, c.tier AS subject,
           c.high_risk_share AS value, p.high_risk_share AS prev_value,
           100.0 * (c.high_risk_share - p.high_risk_share) AS change,
           ROW_NUMBER() OVER (PARTITION BY m.period ORDER BY abs(c.high_risk_share - p.high_risk_share) DESC, c.tier) AS rn
    FROM months m
    JOIN churn_by_tier c ON c.period = m.period
    JOIN churn_by_tier p ON p.period = m.prev_period AND p.tier = c.tier
),
chan AS (
    SELECT m.period, 'channel' AS kind, c.channel AS subject,
           c.share AS value, p.share AS prev_value,
           100.0 * (c.share - p.share) AS change,
           ROW_NUMBER() OVER (PARTITION BY m.period ORDER BY abs(c.share - p.share) DESC, c.channel) AS rn
    FROM months m
    JOIN channel_mix_monthly c ON c.period = m.period AND c.tier = 'All'
    JOIN channel_mix_monthly p ON p.period = m.prev_period AND p.tier = 'All' AND p.channel = c.channel
),
alerts AS (
    SELECT period, COUNT(*) AS n, MIN(alert || ' at ' || scope) AS first_alert FROM service_alerts GROUP BY period
)
SELECT period, kind, subject, value, prev_value, change FROM churn WHERE rn = 1
UNION ALL
SELECT period, kind, subject, value, prev_value, change FROM chan WHERE rn = 1
UNION ALL
SELECT m.period, 'nps', 'bank', k.nps, p.nps, k.nps - p.nps
FROM months m JOIN kpi_monthly k ON k.period = m.period JOIN kpi_monthly p ON p.period = m.prev_period
UNION ALL
SELECT m.period, 'balance_at_risk', 'bank', k.balance_at_risk, p.balance_at_risk,
       100.0 * (k.balance_at_risk / NULLIF(p.balance_at_risk, 0) - 1)
FROM months m JOIN kpi_monthly k ON k.period = m.period JOIN kpi_monthly p ON p.period = m.prev_period
UNION ALL
SELECT m.period, 'alerts', COALESCE(a.first_alert, ''), CAST(COALESCE(a.n, 0) AS DOUBLE),
       CAST(COALESCE(pa.n, 0) AS DOUBLE), CAST(COALESCE(a.n, 0) - COALESCE(pa.n, 0) AS DOUBLE)
FROM months m
LEFT JOIN alerts a ON a.period = m.period
LEFT JOIN alerts pa ON pa.period = m.prev_period
