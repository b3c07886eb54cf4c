-- DuckDB port of queries/churn_reasons.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: the month's count as COUNT(*) OVER (PARTITION BY period), which it equals: DuckDB 2.0.1 fails two ROW_NUMBER windows of opposite orders over a hive partition column (INTERNAL Error: PhysicalWindow::GetPartitionData)
-- Why the high-risk customers may leave, per month: each reason the churn
-- model gives (reason_1..3 of churn_risk, band 'high') with its figures
-- replaced by '…', so "no activity for 35 days" and "… for 72 days" are one
-- reason. A customer counts once per reason among their three.
--   customers          high-risk customers naming it
--   share              of the month's high-risk customers
--   relationship_balance, balance_at_risk  theirs, summed
--   reason_rank        1 = named by the most customers
-- The month's high-risk count rides along as a window, not a join: on a
-- Ballista cluster a run whose join read only empty inputs (no model fitted
-- yet) never finished. It is a customer's rank from the top plus their rank
-- from the bottom, less one (a customer has one row a month): an unordered
-- COUNT(*) OVER (PARTITION BY period) holds the whole month outside the
-- memory pool, and at 1M customers x 12 months left the query too little.
WITH high AS (
    SELECT period, customer_id, relationship_balance, balance_at_risk, reason_1, reason_2, reason_3,
           COUNT(*) OVER (PARTITION BY period) AS high_risk
    FROM churn_risk
    WHERE band = 'high'
),
named AS (
    SELECT period, customer_id, relationship_balance, balance_at_risk, high_risk, reason_1 AS reason FROM high
    UNION ALL
    SELECT period, customer_id, relationship_balance, balance_at_risk, high_risk, reason_2 FROM high
    UNION ALL
    SELECT period, customer_id, relationship_balance, balance_at_risk, high_risk, reason_3 FROM high
),
general AS (
    SELECT DISTINCT period, customer_id, relationship_balance, balance_at_risk, high_risk,
           regexp_replace(reason, '-?[0-9]+(\.[0-9]+)?', '…', 'g') AS reason
    FROM named
    WHERE reason IS NOT NULL AND reason <> ''
)
SELECT g.period,
       g.reason,
       COUNT(*) AS customers,
       CAST(COUNT(*) AS DOUBLE) / g.high_risk AS share,
       SUM(g.relationship_balance) AS relationship_balance,
       SUM(g.balance_at_risk) AS balance_at_risk,
       RANK() OVER (PARTITION BY g.period ORDER BY COUNT(*) DESC) AS reason_rank
FROM general g
GROUP BY g.period, g.reason, g.high_risk
