-- The loyalty ladder per month as a funnel: customers at each stage, in
-- ladder order (first_time -> repeat -> advocate; dormant last).
SELECT period,
       stage,
       CASE stage WHEN 'first_time' THEN 1 WHEN 'repeat' THEN 2 WHEN 'advocate' THEN 3 ELSE 4 END AS stage_order,
       COUNT(*) AS customers
FROM loyalty_ladder
GROUP BY period, stage
