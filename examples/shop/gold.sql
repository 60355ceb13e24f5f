-- Gold: the answers.

-- Each customer's lifetime orders and revenue, kept up to date incrementally: every window's
-- new orders are added to the running totals (MERGE), instead of recounting all history.
CREATE JOB customer_revenue RUN_INTERVAL = 1 MINUTE AS
MERGE INTO gold.customer_revenue t
USING (
    SELECT
        customer_id,
        count(*) AS orders,
        sum(CASE WHEN is_revenue THEN amount_eur ELSE 0 END) AS revenue_eur,
        min(ordered_at) AS first_order_at,
        max(ordered_at) AS last_order_at
    FROM silver.orders
    WHERE $commit_time BETWEEN run_start_time() AND run_end_time()
    GROUP BY customer_id
) s
ON t.customer_id = s.customer_id
WHEN MATCHED THEN UPDATE SET
    lifetime_orders = t.lifetime_orders + s.orders,
    revenue_eur = t.revenue_eur + s.revenue_eur,
    first_order_at = least(t.first_order_at, s.first_order_at),
    last_order_at = greatest(t.last_order_at, s.last_order_at)
WHEN NOT MATCHED THEN INSERT (customer_id, lifetime_orders, revenue_eur, first_order_at, last_order_at)
    VALUES (s.customer_id, s.orders, s.revenue_eur, s.first_order_at, s.last_order_at);

-- Revenue per day (UTC): completed and shipped orders, in euros.
CREATE MATERIALIZED VIEW gold.daily_revenue AS
SELECT
    order_date AS day,
    count(*) FILTER (WHERE is_revenue) AS orders,
    sum(amount_eur) FILTER (WHERE is_revenue) AS revenue_eur,
    CAST(avg(amount_eur) FILTER (WHERE is_revenue) AS DECIMAL(12, 2)) AS avg_order_eur,
    count(*) FILTER (WHERE status = 'cancelled') AS cancelled
FROM silver.orders
GROUP BY order_date;

-- The ten customers who spent the most.
CREATE MATERIALIZED VIEW gold.top_customers AS
SELECT
    r.customer_id,
    c.name,
    c.country,
    r.lifetime_orders,
    r.revenue_eur,
    r.last_order_at
FROM gold.customer_revenue r
LEFT JOIN silver.customers c USING (customer_id)
ORDER BY r.revenue_eur DESC, r.customer_id
LIMIT 10;

-- The products that bring in the most (units and revenue in euros, billed orders only).
CREATE MATERIALIZED VIEW gold.top_products AS
SELECT
    i.sku,
    CAST(sum(i.qty) AS BIGINT) AS units,
    count(DISTINCT i.order_id) AS orders,
    CAST(sum(i.qty * i.price * o.eur_rate) AS DECIMAL(12, 2)) AS revenue_eur
FROM silver.order_items i
JOIN silver.orders o USING (order_id)
WHERE o.is_revenue
GROUP BY i.sku
ORDER BY revenue_eur DESC, i.sku
LIMIT 10;

-- Billed orders whose payments do not add up: never paid, paid short, or paid too much.
-- Amounts are in the order's currency; `difference_eur` is what was paid minus what was billed.
CREATE MATERIALIZED VIEW gold.payment_issues AS
WITH paid AS (
    SELECT order_id, sum(amount) AS paid, count(*) AS payments
    FROM silver.payments
    GROUP BY order_id
)
SELECT
    o.order_id,
    o.customer_id,
    o.status,
    o.amount,
    o.currency,
    coalesce(p.paid, 0) AS paid,
    coalesce(p.payments, 0) AS payments,
    CAST((coalesce(p.paid, 0) - o.amount) * o.eur_rate AS DECIMAL(12, 2)) AS difference_eur,
    CASE
        WHEN p.paid IS NULL THEN 'unpaid'
        WHEN p.paid < o.amount THEN 'underpaid'
        ELSE 'overpaid'
    END AS issue
FROM silver.orders o
LEFT JOIN paid p USING (order_id)
WHERE o.status IN ('completed', 'shipped', 'refunded')
  AND coalesce(p.paid, 0) <> o.amount;
