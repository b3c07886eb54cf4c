-- DuckDB port of queries/profit_by_tier.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Where the profit comes from and where negative-profit customers sit, per
-- month, tier ('All' = every tier) and profit group (customer_profit):
-- customers and their share of the tier, profit and its share of the tier's
-- profit (signed: a negative group's share is negative, so the groups of a
-- tier add up to 1; null when the tier's profit is 0), margin, cost to serve,
-- and the group's channel habits (interactions per customer; branch, call
-- centre and digital = ATM + online shares of its interactions).
WITH both_levels AS (
    SELECT period, tier, tier_rank, profit_group, profit, margin, cost_to_serve,
           interactions, branch_interactions, call_interactions, digital_interactions
    FROM customer_profit
    UNION ALL
    SELECT period, 'All' AS tier, 0 AS tier_rank, profit_group, profit, margin, cost_to_serve,
           interactions, branch_interactions, call_interactions, digital_interactions
    FROM customer_profit
)
SELECT period,
       tier,
       tier_rank,
       profit_group,
       COUNT(*) AS customers,
       CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER (PARTITION BY period, tier) AS share_of_customers,
       SUM(profit) AS profit,
       CAST(SUM(profit) AS DOUBLE)
           / NULLIF(CAST(SUM(SUM(profit)) OVER (PARTITION BY period, tier) AS DOUBLE), 0) AS share_of_profit,
       SUM(margin) AS margin,
       SUM(cost_to_serve) AS cost_to_serve,
       CAST(SUM(interactions) AS DOUBLE) / COUNT(*) AS interactions_per_customer,
       CAST(SUM(branch_interactions) AS DOUBLE) / NULLIF(SUM(interactions), 0) AS branch_share,
       CAST(SUM(call_interactions) AS DOUBLE) / NULLIF(SUM(interactions), 0) AS call_share,
       CAST(SUM(digital_interactions) AS DOUBLE) / NULLIF(SUM(interactions), 0) AS digital_share
FROM both_levels
GROUP BY period, tier, tier_rank, profit_group
