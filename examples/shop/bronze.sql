-- Bronze: the raw records, as they arrived. A table may declare its columns, or take them from
-- the data as it arrives (orders). Every row also gets $event_time, $commit_time, $source
-- (file and line) and $run_id.

-- Customers: one CSV export with a header line. CSV carries no types, so the table declares
-- them; values that do not fit go to system.quarantine with their file and line.
CREATE TABLE bronze.customers (
    id BIGINT,
    name VARCHAR,
    email VARCHAR,
    country VARCHAR,
    signup_date DATE
) COMMENT = 'customer export, as delivered';

CREATE JOB load_customers
    CONTENT_TYPE = CSV
    COMMENT = 'customers/customers.csv'
AS COPY FROM landing PATTERN = 'customers/*.csv' INTO bronze.customers;

-- Orders: JSON lines. The nested `customer` object becomes a STRUCT column and `items` a
-- LIST of STRUCTs; `ordered_at` (ISO-8601 with Z) becomes a TIMESTAMPTZ. The order's own
-- time is its event time. SYNC: the job's watermark (the latest `ordered_at` it has committed)
-- holds back the SYNC join of payments and orders in silver.sql until the orders are complete.
CREATE TABLE bronze.orders COMMENT = 'orders, one JSON object per line';

CREATE SYNC JOB load_orders
    CONTENT_TYPE = JSON
    EVENT_TIME = ordered_at
    COMMENT = 'orders/orders-<n>.jsonl'
AS COPY FROM landing PATTERN = 'orders/**/*.jsonl' INTO bronze.orders;

-- Payments: a CSV export from the payment provider. An order can have no payment, two
-- partial ones, or the same one twice. SYNC, with `paid_at` as its event time: see silver.sql.
CREATE TABLE bronze.payments (
    payment_id BIGINT,
    order_id BIGINT,
    paid_at TIMESTAMPTZ,
    method VARCHAR,
    amount DECIMAL(12, 2)
) COMMENT = 'payment provider export';

CREATE SYNC JOB load_payments
    CONTENT_TYPE = CSV
    EVENT_TIME = paid_at
AS COPY FROM landing PATTERN = 'payments/*.csv' INTO bronze.payments;
