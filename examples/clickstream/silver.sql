-- Silver: cleaned events and sessions. Each job runs once per one-minute window of commits to
-- its input ($commit_time), so every bronze row is processed exactly once.

-- One row per event: the page (the URL's path, without its query string), where the visitor
-- came from (the referrer's site, 'internal' for a page of the shop, '(direct)' without one).
CREATE JOB clicks_silver RUN_INTERVAL = 1 MINUTE AS
INSERT INTO silver.clicks
SELECT
    event_id,
    user_id,
    session_id,
    event_type,
    event_time,
    date_trunc('minute', event_time) AS event_minute,
    regexp_extract(url, '^https?://[^/]+(/[^?#]*)', 1) AS page,
    CASE
        WHEN referrer IS NULL OR referrer = '' THEN '(direct)'
        WHEN regexp_extract(referrer, '^https?://([^/:?#]+)', 1) = 'shop.example' THEN 'internal'
        ELSE regexp_replace(regexp_extract(referrer, '^https?://([^/:?#]+)', 1), '^www\.', '')
    END AS source,
    product.sku AS sku,
    CASE WHEN event_type = 'purchase' THEN product.price END AS revenue,
    email AS email_hash,
    ip AS ip_network
FROM bronze.clicks
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();

-- One row per session, kept up to date as its events arrive (MERGE): when it started and
-- ended, what the visitor did, and where the session came from (the source of its first event).
CREATE JOB sessions_silver RUN_INTERVAL = 1 MINUTE AS
MERGE INTO silver.sessions t
USING (
    SELECT
        session_id,
        any_value(user_id) AS user_id,
        min(event_time) AS started_at,
        max(event_time) AS ended_at,
        arg_min(source, event_time) AS source,
        arg_min(page, event_time) AS landing_page,
        count(*) AS events,
        count(*) FILTER (WHERE event_type = 'page_view') AS page_views,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        coalesce(sum(revenue), 0) AS revenue
    FROM silver.clicks
    WHERE $commit_time BETWEEN run_start_time() AND run_end_time()
    GROUP BY session_id
) s
ON t.session_id = s.session_id
WHEN MATCHED THEN UPDATE SET
    source = CASE WHEN s.started_at < t.started_at THEN s.source ELSE t.source END,
    landing_page = CASE WHEN s.started_at < t.started_at THEN s.landing_page ELSE t.landing_page END,
    started_at = least(t.started_at, s.started_at),
    ended_at = greatest(t.ended_at, s.ended_at),
    events = t.events + s.events,
    page_views = t.page_views + s.page_views,
    add_to_carts = t.add_to_carts + s.add_to_carts,
    purchases = t.purchases + s.purchases,
    revenue = t.revenue + s.revenue
WHEN NOT MATCHED THEN INSERT (
    session_id, user_id, started_at, ended_at, source, landing_page,
    events, page_views, add_to_carts, purchases, revenue
) VALUES (
    s.session_id, s.user_id, s.started_at, s.ended_at, s.source, s.landing_page,
    s.events, s.page_views, s.add_to_carts, s.purchases, s.revenue
);
