-- Sign-ups from a web form, delivered as JSON lines by a collector that re-sends on timeouts,
-- sometimes cuts a line short, and lets test accounts and odd values through. This project
-- shows what Headwater does with such input before anything is stored.

CREATE FILES CONNECTION landing PATH = 'data/landing';

CREATE TABLE bronze.signups (
    signup_id BIGINT,
    signed_up_at TIMESTAMPTZ,
    plan VARCHAR,
    monthly_fee DECIMAL(8, 2)
) COMMENT = 'one row per sign-up; personal data hashed, masked or left out';

CREATE JOB load_signups
    EVENT_TIME = signed_up_at
    -- The collector re-sends a sign-up when it times out: keep the first within a day.
    DEDUPLICATE_WITH = (COLUMNS = (signup_id), WINDOW = 1 DAY)
    -- Personal data never reaches the lake in clear: the email is hashed with the project's
    -- secret salt (still joinable), the card keeps its last 4 digits, the free-text note is
    -- dropped to NULL, the phone number and the customer's date of birth are not stored at all.
    COLUMN_TRANSFORMATIONS = (
        email = HASH(email),
        card = MASK(card, 4),
        note = REDACT(note),
        referrer.email = HASH(referrer.email)
    )
    EXCLUDE_COLUMNS = (phone, referrer.phone)
AS COPY FROM landing PATTERN = 'signups-*.jsonl' INTO bronze.signups
-- Test accounts are not business: drop them (counted in system.runs.rows_dropped).
WITH EXPECTATION real_customer EXPECT email NOT LIKE '%@test.example' ON VIOLATION DROP
-- A plan we do not sell is a problem to look at: quarantine the record with its reason.
WITH EXPECTATION known_plan EXPECT plan IN ('free', 'pro', 'team') ON VIOLATION QUARANTINE
-- Missing country is tolerated but counted in system.expectations.
WITH EXPECTATION has_country EXPECT country IS NOT NULL ON VIOLATION WARN
-- A sign-up dated in the future means the collector's clock is broken: stop the job, keep
-- its position, and wait for `headwater resume load_signups` once it is fixed.
WITH EXPECTATION not_in_future EXPECT signed_up_at < TIMESTAMPTZ '2030-01-01' ON VIOLATION ABORT;

-- Revenue per plan and day, from the clean rows only.
CREATE JOB plan_revenue RUN_INTERVAL = 1 MINUTE AS
INSERT INTO silver.plan_days
SELECT plan, CAST(signed_up_at AS DATE) AS day, count(*) AS signups, sum(monthly_fee) AS monthly_revenue
FROM bronze.signups
WHERE $commit_time BETWEEN run_start_time() AND run_end_time()
GROUP BY ALL;

CREATE MATERIALIZED VIEW gold.plans AS
SELECT plan, sum(signups) AS signups, sum(monthly_revenue) AS monthly_revenue
FROM silver.plan_days GROUP BY plan ORDER BY plan;
