-- The wake-up campaign list: one month's dormant customers (former patrons
-- without a deal for ladder_rules.dormant_months months), most valuable first.
-- Parameter: $period (YYYY-MM)
--   touchpoint query --format csv --file queries/adhoc/wake_up_list.sql --param period=2024-12 > wake_up.csv
-- Names and phones stay in `customers` (masked unless the reader's role is granted them).
SELECT customer_id, tier, region, home_branch, relationship_balance, products_held,
       months_since_deal, last_deal_period, silent_months, last_active_period, referred
FROM dormant_customers
WHERE period = $period
ORDER BY tier_rank, relationship_balance DESC, customer_id
