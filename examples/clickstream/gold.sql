-- Gold: the answers, always equal to their query over the current silver tables.

-- Which sources bring visitors who buy: sessions, how many reached the cart and bought,
-- the conversion rate and the revenue.
CREATE MATERIALIZED VIEW gold.traffic_by_source AS
SELECT
    source,
    count(*) AS sessions,
    count(*) FILTER (WHERE add_to_carts > 0) AS with_cart,
    count(*) FILTER (WHERE purchases > 0) AS with_purchase,
    round(100.0 * count(*) FILTER (WHERE purchases > 0) / count(*), 1) AS conversion_pct,
    sum(revenue) AS revenue
FROM silver.sessions
GROUP BY source
ORDER BY sessions DESC, source;

-- The most viewed pages, and by how many sessions.
CREATE MATERIALIZED VIEW gold.top_pages AS
SELECT
    page,
    count(*) AS page_views,
    count(DISTINCT session_id) AS sessions
FROM silver.clicks
WHERE event_type = 'page_view'
GROUP BY page
ORDER BY page_views DESC, page
LIMIT 10;

-- Activity per minute of event time: a live dashboard's numbers.
CREATE MATERIALIZED VIEW gold.activity_per_minute AS
SELECT
    event_minute AS minute,
    count(*) AS events,
    count(DISTINCT session_id) AS sessions,
    count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
    coalesce(sum(revenue), 0) AS revenue
FROM silver.clicks
GROUP BY event_minute;
