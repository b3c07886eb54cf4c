-- Main-channel migration: a customer's main channel in a month is the one with
-- the most interactions (ties: digital first: online, atm, call_centre, branch).
-- Per month, customers by last month's and this month's main channel;
-- `branch_to_digital` marks the moves from branch to online or ATM.
WITH counts AS (
    SELECT customer_id, period, channel, COUNT(*) AS n
    FROM interactions
    GROUP BY customer_id, period, channel
),
ranked AS (
    SELECT customer_id, period, channel,
           ROW_NUMBER() OVER (PARTITION BY customer_id, period ORDER BY n DESC,
               CASE channel WHEN 'online' THEN 1 WHEN 'atm' THEN 2 WHEN 'call_centre' THEN 3 ELSE 4 END) AS rn
    FROM counts
),
main AS (
    SELECT customer_id, period, channel,
           CAST(substr(period, 1, 4) AS BIGINT) * 12 + CAST(substr(period, 6, 2) AS BIGINT) AS month_index
    FROM ranked WHERE rn = 1
)
SELECT cur.period,
       prev.channel AS from_channel,
       cur.channel AS to_channel,
       COUNT(*) AS customers,
       prev.channel = 'branch' AND cur.channel IN ('online', 'atm') AS branch_to_digital
FROM main cur
JOIN main prev ON prev.customer_id = cur.customer_id AND prev.month_index = cur.month_index - 1
GROUP BY cur.period, prev.channel, cur.channel
