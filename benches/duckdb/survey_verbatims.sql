-- DuckDB port of queries/survey_verbatims.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- The voice of the customer: each month's twelve lowest-scored comments.
-- Comments are customer text: the report template escapes them.
SELECT period, response_id, channel, touchpoint, csat, nps, comment
FROM (
    SELECT period, response_id, channel, touchpoint, csat, nps, comment,
           ROW_NUMBER() OVER (PARTITION BY period ORDER BY csat ASC, nps ASC, response_id ASC) AS rn
    FROM surveys
    WHERE comment IS NOT NULL
) ranked
WHERE rn <= 12
