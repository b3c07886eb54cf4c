-- DuckDB port of queries/dormant_customers.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- The wake-up list (seed 001: dormant customers - former patrons - are to be
-- contacted and woken up): every customer at the `dormant` stage of
-- loyalty_ladder per month, with what a campaign team sorts and routes by.
-- Export a month: touchpoint query --format csv --file queries/adhoc/wake_up_list.sql --param period=2024-12
-- A period is null when the customer had no deal (no interaction) in the
-- loaded months.
SELECT l.customer_id,
       l.period,
       l.tier,
       l.tier_rank,
       c.region,
       c.home_branch,
       l.relationship_balance,
       l.products_held,
       l.deals,
       l.referred,
       l.months_since_deal,
       l.last_deal_period,
       l.silent_months,
       l.last_active_period
FROM loyalty_ladder l
JOIN customers c ON c.customer_id = l.customer_id
WHERE l.stage = 'dormant'
