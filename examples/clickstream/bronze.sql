-- Bronze: every click event of topic `clicks`, as it arrived, less what must not be stored.
-- Each row also gets $event_time, $commit_time, $source (kafka:clicks/<partition>/<offset>),
-- $run_id and the message's $kafka_key, $kafka_timestamp and $kafka_headers.

-- The columns are declared so that their types do not depend on the first messages: a value
-- that does not fit (an event_time that is not a timestamp) sends its record to the quarantine.
CREATE TABLE bronze.clicks (
    event_id VARCHAR,
    user_id BIGINT,
    session_id VARCHAR,
    event_type VARCHAR,
    url VARCHAR,
    referrer VARCHAR,
    event_time TIMESTAMPTZ,
    ip VARCHAR,
    email VARCHAR,
    user_agent VARCHAR,
    product STRUCT(sku VARCHAR, price DECIMAL(10, 2))
) COMMENT = 'click events from Kafka topic clicks; emails hashed, IP addresses cut to their /24 network';

CREATE JOB load_clicks
    CONTENT_TYPE = JSON
    -- The time the visitor clicked, as the browser reported it.
    EVENT_TIME = event_time
    -- The collector re-sends an event when the broker is slow to acknowledge: keep the first.
    DEDUPLICATE_WITH = (COLUMNS = (event_id), WINDOW = 1 HOUR)
    -- Personal data: the email is stored as a salted SHA-256 (still joinable and countable),
    -- the IP address without its last byte (203.0.113.57 becomes 203.0.113.0).
    COLUMN_TRANSFORMATIONS = (
        email = HASH(email),
        ip = regexp_replace(ip, '\.[0-9]+$', '.0')
    )
    -- While `headwater run` keeps running, new clicks commit at least every second.
    COMMIT_INTERVAL = 1 SECOND
    COMMENT = 'one JSON event per message, keyed by user_id'
AS COPY FROM events TOPIC = 'clicks' INTO bronze.clicks
-- Crawlers are not visitors: leave their page views out (counted in system.runs.rows_dropped).
WITH EXPECTATION not_a_bot EXPECT user_agent NOT ILIKE '%bot%' ON VIOLATION DROP
-- An event type the pipeline does not know (a newer client's) is kept aside to look at.
WITH EXPECTATION known_event_type
    EXPECT event_type IN ('page_view', 'click', 'add_to_cart', 'purchase') ON VIOLATION QUARANTINE;
