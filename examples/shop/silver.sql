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
