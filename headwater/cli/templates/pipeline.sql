-- A small pipeline: JSON order files land in data/landing/, get loaded into bronze,
-- cleaned into silver once a minute, and summed up per customer in gold.
-- Add files to data/landing/ and run `headwater run --once` again: only new lines are read.

CREATE FILES CONNECTION landing PATH = 'data/landing';

CREATE TABLE bronze.orders COMMENT = 'raw orders, as they arrive';

CREATE JOB load_orders
    CONTENT_TYPE = JSON
    COMMENT = 'load every *.jsonl file under data/landing/'
AS COPY FROM landing PATTERN = '**/*.jsonl'
INTO bronze.orders;

CREATE JOB clean_orders
    RUN_INTERVAL = 1 MINUTE
    COMMENT = 'typed, cleaned orders'
AS INSERT INTO silver.orders
SELECT
    order_id,
    lower(trim(customer)) AS customer,
    CAST(amount AS DECIMAL(12, 2)) AS amount,
    CAST(ordered_at AS TIMESTAMP) AS ordered_at
FROM bronze.orders
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();

CREATE MATERIALIZED VIEW gold.revenue_by_customer AS
SELECT customer, count(*) AS orders, sum(amount) AS revenue
FROM silver.orders
GROUP BY customer;
