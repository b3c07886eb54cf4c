-- DuckDB port of queries/loyalty_funnel.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Seed 001's loyalty ladder per month as a funnel: people at each of its
-- seven stages, in ladder order - non-customer -> possible -> qualified
-- prospect (leads, prospect_ladder) -> first-time -> repeat -> advocate
-- (customers, loyalty_ladder); dormant (a former patron) last.
SELECT period,
       stage,
       CASE stage WHEN 'non_customer' THEN 1 WHEN 'possible' THEN 2 WHEN 'qualified_prospect' THEN 3
                  WHEN 'first_time' THEN 4 WHEN 'repeat' THEN 5 WHEN 'advocate' THEN 6 ELSE 7 END AS stage_order,
       COUNT(*) AS people
FROM (
    SELECT period, stage FROM loyalty_ladder
    UNION ALL
    SELECT period, stage FROM prospect_ladder
) s
GROUP BY period, stage
