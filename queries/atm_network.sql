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
WITH ym AS (
    SELECT DISTINCT period,
           CAST(substr(period, 1, 4) AS BIGINT) AS y,
           CAST(substr(period, 6, 2) AS BIGINT) AS m
    FROM atm
),
days AS (
    SELECT period,
           CASE WHEN m IN (4, 6, 9, 11) THEN 30
                WHEN m <> 2 THEN 31
                WHEN y % 4 = 0 AND (y % 100 <> 0 OR y % 400 = 0) THEN 29
                ELSE 28 END AS days
    FROM ym
),
per_atm AS (
    SELECT period, atm_id,
           COUNT(*) AS transactions,
           SUM(CASE WHEN status = 'declined' THEN 1 ELSE 0 END) AS declined,
           COUNT(DISTINCT customer_id) AS customers
    FROM atm
    WHERE atm_id IS NOT NULL
    GROUP BY period, atm_id
),
network AS (
    SELECT period,
           COUNT(*) AS transactions,
           SUM(CASE WHEN status = 'declined' THEN 1 ELSE 0 END) AS declined,
           COUNT(DISTINCT customer_id) AS customers,
           COUNT(DISTINCT atm_id) AS atms
    FROM atm
    GROUP BY period
)
SELECT a.period,
       a.atm_id,
       a.transactions,
       a.declined,
       CAST(a.declined AS DOUBLE) / a.transactions AS decline_rate,
       a.customers,
       CAST(a.transactions AS DOUBLE) / d.days AS per_day,
       CAST(a.transactions AS DOUBLE) / AVG(CAST(a.transactions AS DOUBLE)) OVER (PARTITION BY a.period) AS load_index,
       RANK() OVER (PARTITION BY a.period ORDER BY a.transactions DESC) AS busy_rank
FROM per_atm a
JOIN network n ON n.period = a.period
JOIN days d ON d.period = a.period
UNION ALL
SELECT n.period,
       'ALL' AS atm_id,
       n.transactions,
       n.declined,
       CAST(n.declined AS DOUBLE) / n.transactions AS decline_rate,
       n.customers,
       CAST(n.transactions AS DOUBLE) / NULLIF(n.atms, 0) / d.days AS per_day,
       CASE WHEN n.atms > 0 THEN 1.0 END AS load_index,
       CAST(NULL AS BIGINT) AS busy_rank
FROM network n
JOIN days d ON d.period = n.period
