-- DuckDB port of queries/service_alerts.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_char(x, fmt) -> strftime(x, fmt)
--   to_date(text) -> CAST(text AS DATE)
-- Service-quality alerts: every breach of a threshold in the alert_thresholds
-- seed, with the evidence, per month:
--   branch_p90_wait      a branch's 90th-percentile wait (minutes) above the threshold
--   nps_drop             a channel's NPS down by more than the threshold (points) month
--                        on month, both months with at least 30 responses
--   call_abandonment     the call centre's abandonment share above the threshold
--   top_tier_churn_rise  the top tier's mean churn probability up by more than the
--                        threshold (probability points) month on month
--   tier_p90_wait        a tier's 90th-percentile branch wait (minutes, every service
--                        type: service_by_tier's 'All' row) above that tier's own
--                        threshold (the seed row whose scope is the tier; tiers without
--                        one never alert), over at least 30 visits; the evidence adds
--                        the tier's wealth-advice p90 (the key moment) when it had any
--   complaint_response_sla  a channel's share of due complaints answered within the
--                        SLA (complaint_service, every tier) below the threshold, over at
--                        least 30 due complaints
WITH t AS (SELECT alert, scope, threshold FROM alert_thresholds),
branch AS (
    SELECT b.period, 'branch_p90_wait' AS alert, b.branch_id AS scope, b.p90_wait AS value, t.threshold,
           'p90 wait ' || CAST(round(b.p90_wait, 1) AS VARCHAR) || ' min over ' || CAST(b.visits AS VARCHAR)
               || ' visits (median ' || CAST(round(b.median_wait, 1) AS VARCHAR) || ' min, '
               || CAST(round(100 * b.share_over_30, 1) AS VARCHAR) || '% waited over 30 min)' AS evidence
    FROM branch_service b JOIN t ON t.alert = 'branch_p90_wait'
    WHERE b.branch_id <> 'ALL' AND b.p90_wait > t.threshold
),
nps AS (
    SELECT s.period, 'nps_drop', s.channel, s.nps_change_mom, t.threshold,
           'NPS ' || CAST(round(s.nps, 1) AS VARCHAR) || ' from ' || CAST(round(s.nps_prev, 1) AS VARCHAR)
               || ' last month (' || CAST(s.responses AS VARCHAR) || ' responses; 95% CI '
               || CAST(round(s.nps_low, 1) AS VARCHAR) || ' to ' || CAST(round(s.nps_high, 1) AS VARCHAR) || ')'
    FROM satisfaction_monthly s
    JOIN satisfaction_monthly p ON p.period = strftime(CAST(s.period || '-01' AS DATE) - INTERVAL '1 month', '%Y-%m')
                               AND p.channel = s.channel AND p.tier = s.tier AND p.stage = s.stage
    JOIN t ON t.alert = 'nps_drop'
    WHERE s.tier = 'all' AND s.stage = 'all' AND s.channel <> 'all'
      AND s.responses >= 30 AND p.responses >= 30
      AND s.nps_change_mom < -t.threshold
),
calls AS (
    SELECT c.period, 'call_abandonment', 'call_centre', c.abandonment, t.threshold,
           CAST(round(100 * c.abandonment, 1) AS VARCHAR) || '% of ' || CAST(c.calls AS VARCHAR)
               || ' calls abandoned (p90 queue ' || CAST(round(c.p90_queue, 1) AS VARCHAR) || ' min)'
    FROM call_centre_service c JOIN t ON t.alert = 'call_abandonment'
    WHERE c.abandonment > t.threshold
),
churn AS (
    SELECT c.period, 'top_tier_churn_rise', c.tier, c.avg_score - p.avg_score, t.threshold,
           'mean churn probability ' || CAST(round(100 * c.avg_score, 2) AS VARCHAR) || '% from '
               || CAST(round(100 * p.avg_score, 2) AS VARCHAR) || '% last month; balance at risk '
               || CAST(round(c.balance_at_risk, 0) AS VARCHAR)
    FROM churn_by_tier c
    JOIN churn_by_tier p ON p.tier = c.tier AND p.period = strftime(CAST(c.period || '-01' AS DATE) - INTERVAL '1 month', '%Y-%m')
    JOIN t ON t.alert = 'top_tier_churn_rise'
    WHERE c.tier_rank = 1 AND c.avg_score - p.avg_score > t.threshold
),
tier_wait AS (
    SELECT s.period, 'tier_p90_wait', s.tier, s.p90_wait, t.threshold,
           'p90 wait ' || CAST(round(s.p90_wait, 1) AS VARCHAR) || ' min over ' || CAST(s.visits AS VARCHAR)
               || ' visits (median ' || CAST(round(s.median_wait, 1) AS VARCHAR) || ' min, '
               || CAST(round(100 * s.share_over_30, 1) AS VARCHAR) || '% waited over 30 min)'
               || COALESCE('; wealth-advice p90 ' || CAST(round(w.p90_wait, 1) AS VARCHAR) || ' min over '
                           || CAST(w.visits AS VARCHAR) || ' visits', '')
    FROM service_by_tier s
    JOIN t ON t.alert = 'tier_p90_wait' AND t.scope = s.tier
    LEFT JOIN service_by_tier w ON w.period = s.period AND w.tier = s.tier AND w.service_type = 'wealth_advice'
    WHERE s.service_type = 'All' AND s.visits >= 30 AND s.p90_wait > t.threshold
),
complaint AS (
    SELECT c.period, 'complaint_response_sla', c.channel, c.response_within_sla, t.threshold,
           CAST(round(100 * c.response_within_sla, 1) AS VARCHAR) || '% of ' || CAST(c.due_response AS VARCHAR)
               || ' due complaints answered within the SLA (median ' || CAST(round(c.median_response_hours, 1) AS VARCHAR)
               || ' h, p90 ' || CAST(round(c.p90_response_hours, 1) AS VARCHAR) || ' h; '
               || CAST(c.pending AS VARCHAR) || ' still pending)'
    FROM complaint_service c JOIN t ON t.alert = 'complaint_response_sla'
    WHERE c.tier = 'All' AND c.channel <> 'All' AND c.due_response >= 30
      AND c.response_within_sla < t.threshold
)
SELECT period, alert, scope, value, threshold, evidence FROM branch
UNION ALL SELECT * FROM nps
UNION ALL SELECT * FROM calls
UNION ALL SELECT * FROM churn
UNION ALL SELECT * FROM tier_wait
UNION ALL SELECT * FROM complaint
