-- DuckDB port of queries/atm_network.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Are there enough machines (seed 003)? Per month and ATM ('ALL' = the
-- network, every ATM together):
--   transactions, declined, decline_rate = declined / transactions
--   customers               distinct customers who used it
--   per_day                 transactions per calendar day of the month
--                           (the network row: every transaction, per ATM per day)
--   load_index              the ATM's transactions / the mean of the ATMs'
--                           (1 = average; 2 = twice as busy as the average machine)
--   busy_rank               1 = the month's busiest ATM
-- Transactions without an ATM id count for the network only.
-- Days in the month by the calendar rule (leap Februaries included).
--
-- The distinct counts are plain counts of (ATM, customer) and (month,
-- customer) groups of two spilling aggregates (COUNT(DISTINCT) cannot
-- spill, and at 100k customers it outgrew the 512 MB pool); the second gives
-- the network row. Two aggregates, each reading the month's transactions,
-- not GROUPING SETS: those copy every row once per set into one larger
-- grouping, which took 2.15 s here against 1.6 s at 100k customers x 12
-- months (same rows).
-- atm_key is '' for a transaction without an ATM id (never NULL in the ATM
-- grouping), so a NULL atm_key marks the network row.
WITH a AS (SELECT period, COALESCE(atm_id, '') AS atm_key, customer_id, status FROM atm),
pairs AS (
    SELECT period, atm_key, customer_id,
           COUNT(*) AS transactions,
           SUM(CASE WHEN status = 'declined' THEN 1 ELSE 0 END) AS declined
    FROM a
    GROUP BY period, atm_key, customer_id
    UNION ALL
    SELECT period, CAST(NULL AS VARCHAR), customer_id,
           COUNT(*),
           SUM(CASE WHEN status = 'declined' THEN 1 ELSE 0 END)
    FROM a
    GROUP BY period, customer_id
),
machines AS (
    SELECT period, atm_key,
           SUM(transactions) AS transactions,
           SUM(declined) AS declined,
           COUNT(customer_id) AS customers
    FROM pairs
    GROUP BY period, atm_key
),
ranked AS (
    SELECT period, atm_key, transactions, declined, customers,
           COUNT(CASE WHEN atm_key <> '' THEN 1 END) OVER (PARTITION BY period) AS atms,
           AVG(CASE WHEN atm_key <> '' THEN CAST(transactions AS DOUBLE) END) OVER (PARTITION BY period) AS mean_transactions,
           RANK() OVER (PARTITION BY period ORDER BY CASE WHEN atm_key <> '' THEN transactions END DESC NULLS LAST) AS busy_rank,
           CASE WHEN CAST(substr(period, 6, 2) AS BIGINT) IN (4, 6, 9, 11) THEN 30
                WHEN CAST(substr(period, 6, 2) AS BIGINT) <> 2 THEN 31
                WHEN CAST(substr(period, 1, 4) AS BIGINT) % 4 = 0
                     AND (CAST(substr(period, 1, 4) AS BIGINT) % 100 <> 0 OR CAST(substr(period, 1, 4) AS BIGINT) % 400 = 0) THEN 29
                ELSE 28 END AS days
    FROM machines
)
SELECT period,
       COALESCE(atm_key, 'ALL') AS atm_id,
       transactions,
       declined,
       CAST(declined AS DOUBLE) / transactions AS decline_rate,
       customers,
       CASE WHEN atm_key IS NULL THEN CAST(transactions AS DOUBLE) / NULLIF(atms, 0) / days
            ELSE CAST(transactions AS DOUBLE) / days END AS per_day,
       CASE WHEN atm_key IS NULL THEN CASE WHEN atms > 0 THEN 1.0 END
            ELSE CAST(transactions AS DOUBLE) / mean_transactions END AS load_index,
       CAST(CASE WHEN atm_key IS NOT NULL THEN busy_rank END AS BIGINT) AS busy_rank
FROM ranked
WHERE atm_key IS NULL OR atm_key <> ''
