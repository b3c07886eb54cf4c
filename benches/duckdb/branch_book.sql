-- DuckDB port of queries/branch_book.sql, written by `benches/models.sh --port`: do not edit.
-- Session settings: SET integer_division = true; SET TimeZone = 'UTC'.
-- Dialect changes here: none
-- Each branch's book at each month end: the customers whose home branch it
-- was on the month-end date and their balances that day. An AS-OF join on
-- customers_history's validity interval, so a customer who moved branch is
-- counted where they banked then, not where they bank now. The moment is
-- the end of the month-end date (midnight after it, UTC: the history's
-- moments are UTC).
WITH book AS (
    SELECT b.period,
           h.home_branch AS branch_id,
           b.customer_id,
           b.balance
    FROM balances b
    JOIN customers_history h
      ON h.customer_id = b.customer_id
     AND h.valid_from < CAST(b.as_of_date + INTERVAL '1 day' AS TIMESTAMP)
     AND (h.valid_to IS NULL OR h.valid_to >= CAST(b.as_of_date + INTERVAL '1 day' AS TIMESTAMP))
)
SELECT period,
       branch_id,
       COUNT(DISTINCT customer_id) AS customers,
       SUM(balance) AS balance
FROM book
GROUP BY period, branch_id
