-- DuckDB port of queries/satisfaction_monthly.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_char(x, fmt) -> strftime(x, fmt)
--   to_date(text) -> CAST(text AS DATE)
-- Satisfaction per month by channel, tier and purchase stage, with each cell's
-- change against the month before and the year before. The cells and their
-- columns are satisfaction_cells' (see there); this adds
--   nps_prev / nps_change_mom    the same cell last month and the change
--   nps_year_ago / nps_change_yoy   the same cell 12 months earlier and the change
--   csat_change_mom              the change of csat against last month
-- The comparison runs over the small cells table, not the surveys: a month's
-- window of 13 months is a few thousand rows, whatever the bank's size.
WITH cells AS (
    SELECT *,
           strftime(CAST(period || '-01' AS DATE) - INTERVAL '1 month', '%Y-%m') AS prev_period,
           strftime(CAST(period || '-01' AS DATE) - INTERVAL '12 months', '%Y-%m') AS year_ago_period
    FROM satisfaction_cells
)
SELECT c.period,
       c.channel,
       c.tier,
       c.stage,
       c.responses,
       c.csat,
       c.nps,
       c.nps_low,
       c.nps_high,
       c.effort,
       c.expectation_gap,
       c.small_sample,
       p.nps AS nps_prev,
       c.nps - p.nps AS nps_change_mom,
       y.nps AS nps_year_ago,
       c.nps - y.nps AS nps_change_yoy,
       c.csat - p.csat AS csat_change_mom
FROM cells c
LEFT JOIN cells p ON p.period = c.prev_period AND p.channel = c.channel AND p.tier = c.tier AND p.stage = c.stage
LEFT JOIN cells y ON y.period = c.year_ago_period AND y.channel = c.channel AND y.tier = c.tier AND y.stage = c.stage
