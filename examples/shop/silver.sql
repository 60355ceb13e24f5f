-- Silver: cleaned, typed and joined. Each job runs once per one-minute window of commits to its
-- inputs ($commit_time), so every bronze row is processed exactly once.

-- Customers with a normalised email address.
CREATE JOB customers_silver RUN_INTERVAL = 1 MINUTE AS
INSERT INTO silver.customers
SELECT
    id AS customer_id,
    trim(name) AS name,
    lower(trim(email)) AS email,
    upper(country) AS country,
    signup_date
FROM bronze.customers
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();

-- Orders: the status spelled one way, the nested customer object flattened, the customer's
-- country joined in, the amount as a decimal and in euros (at fixed example rates), and the
-- size of the basket from the `items` list.
CREATE JOB orders_silver RUN_INTERVAL = 1 MINUTE AS
INSERT INTO silver.orders
SELECT
    o.order_id,
    o.ordered_at,
    CAST(o.ordered_at AT TIME ZONE 'UTC' AS DATE) AS order_date,
    lower(trim(o.status)) AS status,
    lower(trim(o.status)) IN ('completed', 'shipped') AS is_revenue,
    o.customer.id AS customer_id,
    lower(trim(o.customer.email)) AS customer_email,
    c.country,
    CAST(o.amount AS DECIMAL(12, 2)) AS amount,
    o.currency,
    CASE o.currency WHEN 'GBP' THEN 1.17 WHEN 'USD' THEN 0.92 ELSE 1.00 END AS eur_rate,
    CAST(o.amount * eur_rate AS DECIMAL(12, 2)) AS amount_eur,
    len(o.items) AS item_lines,
    CAST(list_sum([i.qty FOR i IN o.items]) AS INTEGER) AS units
FROM bronze.orders o
LEFT JOIN silver.customers c ON c.customer_id = o.customer.id
WHERE o.$commit_time BETWEEN run_start_time() AND run_end_time();

-- One row per order line: the `items` list unnested.
CREATE JOB order_items_silver RUN_INTERVAL = 1 MINUTE AS
INSERT INTO silver.order_items
SELECT
    o.order_id,
    lower(trim(o.status)) IN ('completed', 'shipped') AS is_revenue,
    i.item.sku,
    i.item.qty,
    CAST(i.item.price AS DECIMAL(12, 2)) AS price,
    o.currency
FROM bronze.orders o
CROSS JOIN unnest(o.items) AS i(item)
WHERE o.$commit_time BETWEEN run_start_time() AND run_end_time();

-- Payments, with the method spelled one way.
CREATE JOB payments_silver RUN_INTERVAL = 1 MINUTE AS
INSERT INTO silver.payments
SELECT
    payment_id,
    order_id,
    paid_at,
    lower(trim(method)) AS method,
    amount
FROM bronze.payments
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();

-- Each payment with the order it pays, and how long after the order it came: a SYNC join of
-- the two streams. Its windows are days of event time (`paid_at`), and a day runs only once
-- both ingestion jobs (SYNC too) have watermarks past its end: every order placed before the
-- end of the day has been loaded, even when the payments file is delivered before the orders.
-- (A job without SYNC runs on what has been committed, and would have missed those orders for
-- good.) Payments of the last day wait for an order of the next.
CREATE SYNC JOB order_payments_silver RUN_INTERVAL = 1 DAY AS
INSERT INTO silver.order_payments
SELECT
    p.payment_id,
    p.order_id,
    o.customer.id AS customer_id,
    o.ordered_at,
    p.paid_at,
    date_diff('second', o.ordered_at, p.paid_at) AS seconds_to_pay,
    lower(trim(p.method)) AS method,
    p.amount,
    o.currency
FROM bronze.payments p
LEFT JOIN bronze.orders o ON o.order_id = p.order_id AND o.$event_time < run_end_time()
WHERE p.$event_time BETWEEN run_start_time() AND run_end_time();
