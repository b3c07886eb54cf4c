-- DuckDB port of queries/complaint_service.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: percentile_exact(x, p) (touchpoint's exact interpolating percentile) -> quantile_cont(x, p)
-- Complaint handling (seed 002: complaints answered 及时、有效 - in time and
-- for good), per month of opening, the customer's tier that month ('All' =
-- every case; 'Unassigned' without a month-end balance) and channel ('All'):
--   cases                 complaint cases opened
--   responded             cases with a first response
--   median_response_hours, p90_response_hours   opened -> first response, exact
--                         percentiles over the responded cases
--   due_response          cases opened at least the SLA's response_hours
--                         before the extract's moment (its latest recorded
--                         time): only their outcome is known
--   response_within_sla   share of the due cases answered within the SLA
--   resolved, median_resolution_days   opened -> resolved
--   due_resolution, resolution_within_sla   the same for resolution_days
--   pending               cases not resolved at the extract's moment
--   reopened_share        reopened cases / resolved cases
--   repeat_share          share of cases whose customer had opened another
--                         case in the 90 days before
-- The SLA comes from the complaint_sla seed. Durations are exact: seconds
-- between the timestamps, divided once.
WITH sla AS (SELECT response_hours, resolution_days FROM complaint_sla),
cases AS (
    SELECT c.period, c.case_id, c.customer_id, COALESCE(c.channel, 'unknown') AS channel,
           COALESCE(cm.tier, 'Unassigned') AS tier, COALESCE(cm.tier_rank, 99) AS tier_rank,
           CAST(date_part('epoch', c.first_response_at) - date_part('epoch', c.opened_at) AS DOUBLE) / 3600.0
               AS response_hours,
           CAST(date_part('epoch', c.resolved_at) - date_part('epoch', c.opened_at) AS DOUBLE) / 86400.0
               AS resolution_days,
           c.resolved_at IS NOT NULL AS resolved,
           COALESCE(c.reopened, 0) = 1 AS reopened,
           -- The extract's moment: the latest time recorded in the extract.
           CAST(MAX(date_part('epoch', GREATEST(c.opened_at, COALESCE(c.first_response_at, c.opened_at),
                                                COALESCE(c.resolved_at, c.opened_at)))) OVER ()
                - date_part('epoch', c.opened_at) AS DOUBLE) AS age_seconds,
           date_part('epoch', c.opened_at)
             - LAG(date_part('epoch', c.opened_at)) OVER (PARTITION BY c.customer_id ORDER BY c.opened_at, c.case_id)
             <= 90 * 86400 AS repeat_case
    FROM complaints c
    LEFT JOIN customer_month cm ON cm.customer_id = c.customer_id AND cm.period = c.period
),
judged AS (
    SELECT c.*,
           c.age_seconds >= s.response_hours * 3600 AS due_response,
           c.response_hours <= s.response_hours AS responded_in_time,
           c.age_seconds >= s.resolution_days * 86400 AS due_resolution,
           c.resolution_days <= s.resolution_days AS resolved_in_time
    FROM cases c CROSS JOIN sla s
)
SELECT period,
       COALESCE(tier, 'All') AS tier,
       CASE WHEN tier IS NULL THEN 0 ELSE MIN(tier_rank) END AS tier_rank,
       COALESCE(channel, 'All') AS channel,
       COUNT(*) AS cases,
       COUNT(response_hours) AS responded,
       quantile_cont(response_hours, 0.5) AS median_response_hours,
       quantile_cont(response_hours, 0.9) AS p90_response_hours,
       SUM(CASE WHEN due_response THEN 1 ELSE 0 END) AS due_response,
       CAST(SUM(CASE WHEN due_response AND responded_in_time THEN 1 ELSE 0 END) AS DOUBLE)
           / NULLIF(SUM(CASE WHEN due_response THEN 1 ELSE 0 END), 0) AS response_within_sla,
       SUM(CASE WHEN resolved THEN 1 ELSE 0 END) AS resolved,
       quantile_cont(resolution_days, 0.5) AS median_resolution_days,
       SUM(CASE WHEN due_resolution THEN 1 ELSE 0 END) AS due_resolution,
       CAST(SUM(CASE WHEN due_resolution AND resolved_in_time THEN 1 ELSE 0 END) AS DOUBLE)
           / NULLIF(SUM(CASE WHEN due_resolution THEN 1 ELSE 0 END), 0) AS resolution_within_sla,
       SUM(CASE WHEN resolved THEN 0 ELSE 1 END) AS pending,
       CAST(SUM(CASE WHEN reopened THEN 1 ELSE 0 END) AS DOUBLE)
           / NULLIF(SUM(CASE WHEN resolved THEN 1 ELSE 0 END), 0) AS reopened_share,
       AVG(CASE WHEN repeat_case THEN 1.0 ELSE 0.0 END) AS repeat_share
FROM judged
GROUP BY period, CUBE (tier, channel)
