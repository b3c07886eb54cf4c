-- DuckDB port of queries/kpi_monthly.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_char(x, fmt) -> strftime(x, fmt)
-- The executive KPIs, one row per month.
WITH cm AS (
    SELECT period,
           COUNT(*) AS customers,
           SUM(CASE WHEN interactions > 0 THEN 1 ELSE 0 END) AS active_customers,
           SUM(relationship_balance) AS relationship_balance,
           SUM(complaints) AS complaints
    FROM customer_month
    GROUP BY period
),
mix AS (
    SELECT period,
           CAST(SUM(CASE WHEN channel = 'online' THEN interactions ELSE 0 END) AS DOUBLE) / SUM(interactions) AS digital_share,
           CAST(SUM(CASE WHEN channel = 'branch' THEN interactions ELSE 0 END) AS DOUBLE) / SUM(interactions) AS branch_share
    FROM channel_mix_monthly
    WHERE tier = 'All'
    GROUP BY period
),
sat AS (
    SELECT period, nps, csat, responses FROM satisfaction_cells
    WHERE channel = 'all' AND tier = 'all' AND stage = 'all'
),
risk AS (
    SELECT period,
           AVG(score) AS avg_churn_score,
           SUM(balance_at_risk) AS balance_at_risk,
           SUM(CASE WHEN band = 'high' THEN 1 ELSE 0 END) AS high_risk_customers
    FROM churn_risk
    GROUP BY period
),
wait AS (
    SELECT period, p90_wait, share_over_30 FROM branch_service WHERE branch_id = 'ALL'
),
-- Last month's customers, for the churn rate: the month before by the
-- calendar, so a missing month gives no rate rather than an older month's.
prev AS (
    SELECT strftime(CAST(period || '-01' AS DATE) + INTERVAL '1 month', '%Y-%m') AS period,
           customers AS prev_customers
    FROM cm
),
closed AS (
    SELECT strftime(closed_date, '%Y-%m') AS period, COUNT(*) AS closed_customers
    FROM customers
    WHERE closed_date IS NOT NULL
    GROUP BY strftime(closed_date, '%Y-%m')
)
SELECT cm.period,
       cm.customers,
       cm.active_customers,
       cm.relationship_balance,
       cm.complaints,
       COALESCE(closed.closed_customers, 0) AS closed_customers,
       -- closures this month / customers at last month's end
       CAST(COALESCE(closed.closed_customers, 0) AS DOUBLE) / NULLIF(prev.prev_customers, 0) AS churn_rate,
       mix.digital_share,
       mix.branch_share,
       sat.nps,
       sat.csat,
       sat.responses AS survey_responses,
       risk.avg_churn_score,
       risk.balance_at_risk,
       risk.high_risk_customers,
       wait.p90_wait AS branch_p90_wait,
       wait.share_over_30 AS branch_share_over_30
FROM cm
LEFT JOIN mix ON mix.period = cm.period
LEFT JOIN sat ON sat.period = cm.period
LEFT JOIN risk ON risk.period = cm.period
LEFT JOIN wait ON wait.period = cm.period
LEFT JOIN prev ON prev.period = cm.period
LEFT JOIN closed ON closed.period = cm.period
