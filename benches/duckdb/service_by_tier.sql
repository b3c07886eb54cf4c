-- DuckDB port of queries/service_by_tier.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: percentile_exact(x, p) (touchpoint's exact interpolating percentile) -> quantile_cont(x, p)
-- Branch service per month, value tier and service type: does Premier still
-- queue? Tier is the customer's tier in the month of the visit (customer_month;
-- 'Unassigned' without a month-end balance that month); 'All' rows cover every
-- tier and every service type. Only called tickets count (as branch_service).
--   wait          = called_at - issued_at, minutes
--   service       = served_at - called_at, minutes
--   visits        = called tickets
--   median_wait   = median(wait)
--   p90_wait      = quantile_cont(wait, 0.9): linear interpolation at rank
--                   0.9 x (visits - 1) of the sorted waits (not DataFusion 55's
--                   percentile_cont, which truncates the weight: #25266)
--   share_over_30 = visits with wait > 30 minutes / visits
--   median_service = median(service)
--   service_type  = the ticket's service type ('unknown' when the ticket has none)
--   key_moment    = the service type is wealth_advice: the wealth-advice
--                   consultation, HSBC's "financial analysis" key moment
--   tier_rank     = the tier's rank in tier_rules (null for Unassigned and All)
-- A month reads only its own month of branch_visits and customer_month.
WITH v AS (
    SELECT b.period,
           COALESCE(cm.tier, 'Unassigned') AS tier,
           cm.tier_rank,
           COALESCE(b.service_type, 'unknown') AS service_type,
           (date_part('epoch', b.called_at) - date_part('epoch', b.issued_at)) / 60.0 AS wait_minutes,
           (date_part('epoch', b.served_at) - date_part('epoch', b.called_at)) / 60.0 AS service_minutes
    FROM branch_visits b
    LEFT JOIN customer_month cm ON cm.customer_id = b.customer_id AND cm.period = b.period
    WHERE b.called_at IS NOT NULL
),
-- Each visit in its tier and service type, and again under 'All' for
-- either and both, by a cross join with four rows: `v` referenced four
-- times would be computed four times (every visit read and joined again).
all_levels AS (
    SELECT v.period,
           CASE WHEN l.all_tiers THEN 'All' ELSE v.tier END AS tier,
           CASE WHEN l.all_tiers THEN CAST(NULL AS BIGINT) ELSE v.tier_rank END AS tier_rank,
           CASE WHEN l.all_types THEN 'All' ELSE v.service_type END AS service_type,
           v.wait_minutes, v.service_minutes
    FROM v CROSS JOIN (VALUES (false, false), (false, true), (true, false), (true, true)) AS l(all_tiers, all_types)
)
SELECT period,
       tier,
       MAX(tier_rank) AS tier_rank,
       service_type,
       service_type = 'wealth_advice' AS key_moment,
       COUNT(*) AS visits,
       median(wait_minutes) AS median_wait,
       quantile_cont(wait_minutes, 0.9) AS p90_wait,
       AVG(CASE WHEN wait_minutes > 30 THEN 1.0 ELSE 0.0 END) AS share_over_30,
       median(service_minutes) AS median_service
FROM all_levels
GROUP BY period, tier, service_type
