-- DuckDB port of queries/prospect_ladder.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: to_date(text) -> CAST(text AS DATE)
-- Seed 001's first three loyalty stages, for the people the bank knows who
-- hold no personal account yet (crm/leads.csv): one row per lead and month,
-- from the month the lead became known until the month before its account
-- opened (from then on it is a customer, in loyalty_ladder). As of each
-- month's end:
--   non_customer        assessed as without the need or the means to buy
--   qualified_prospect  assessed as having both, and not yet a customer
--   possible            known, not yet assessed
-- `layer` is seed 001's pyramid layer: `Prospect` (a customer of another
-- line of the bank, or contacted by the sales team) or `Suspect` (another
-- bank's customer or a campaign name, never contacted).
-- `party_id` is the customer number a converted lead became, else the lead
-- id, so loyalty_flows can follow a prospect onto the customer ladder.
WITH months AS (
    SELECT period, CAST(CAST(period || '-01' AS DATE) + INTERVAL '1 month' AS DATE) AS next_first
    FROM (SELECT DISTINCT period FROM customer_month) p
),
-- Each lead with the day its account opened, looked up before the lead is
-- paired with its months: the lead-months are ten times as many rows, and a
-- hash join holds its whole build side in memory (at 1M customers the
-- lead-months' table was a 0.2 GB spike of the run's peak).
opened AS (
    SELECT l.lead_id, l.converted_customer_id, l.source, l.known_date, l.assessed_date,
           l.assessment, l.contacted_date, c.opened_date
    FROM leads l
    LEFT JOIN customers c ON c.customer_id = l.converted_customer_id
)
SELECT l.lead_id,
       COALESCE(l.converted_customer_id, l.lead_id) AS party_id,
       m.period,
       l.source,
       CASE WHEN l.assessed_date < m.next_first AND l.assessment = 'qualified' THEN 'qualified_prospect'
            WHEN l.assessed_date < m.next_first THEN 'non_customer'
            ELSE 'possible' END AS stage,
       CASE WHEN l.source = 'corporate_banking' OR l.contacted_date < m.next_first THEN 'Prospect'
            ELSE 'Suspect' END AS layer
FROM months m
JOIN opened l ON l.known_date < m.next_first
WHERE l.opened_date IS NULL OR l.opened_date >= m.next_first
