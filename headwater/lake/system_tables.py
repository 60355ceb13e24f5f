"""DDL of the system tables (``system.*``, user-visible) and internal state (``headwater.*``).

All of them live in the lake, so state commits in the same transaction as the rows it
describes. ``STATE_VERSION`` is recorded in ``headwater.meta``; bump it with a migration
whenever a table below changes shape. A new table needs neither: ``ensure_system_tables``
creates the tables a lake does not have yet, at every `run`. It also records
``TABLES_FINGERPRINT`` (of the version and every table's DDL), so that a command that only
reads can tell with one query that the lake needs no DDL (``system_tables_current``).
"""

from __future__ import annotations

import hashlib

import duckdb

from headwater.lake.engine import Lake
from headwater.lake.latest import VIEWS
from headwater.lake.maintenance import configure
from headwater.lake.names import INTERNAL_SCHEMA, LAKE, SYSTEM_SCHEMA

STATE_VERSION = 6  # 2: dedupe keys are two BIGINTs (key_hi, key_lo) instead of a BLOB
# 3: system.offsets has the progress of stream partitions (end_position ... connection)
# 4: system.jobs is a view of headwater.job_status (a commit adds a row, the newest counts)
# 5: system.watermarks and system.offsets too (headwater.watermark_status, offset_status)
# 6: an incremental view's clock rows carry the snapshot its refresh read (clocks.read_snapshot)

SYSTEM_TABLES: dict[str, str] = {
    "runs": """job VARCHAR, run_id BIGINT, window_start TIMESTAMPTZ, window_end TIMESTAMPTZ,
        started TIMESTAMPTZ, finished TIMESTAMPTZ, status VARCHAR, rows_read BIGINT,
        rows_written BIGINT, rows_deduplicated BIGINT, rows_dropped BIGINT, rows_quarantined BIGINT,
        rows_late BIGINT, error VARCHAR""",
    "expectations": """job VARCHAR, expectation VARCHAR, action VARCHAR, run_id BIGINT, violations BIGINT""",
    "quarantine": """id BIGINT, job VARCHAR, "$source" VARCHAR, raw VARCHAR, reason VARCHAR, "at" TIMESTAMPTZ,
        run_id BIGINT, format VARCHAR, sealed VARCHAR, replayed_at TIMESTAMPTZ, replay_run_id BIGINT""",
    "audit": """"at" TIMESTAMPTZ, actor VARCHAR, action VARCHAR, detail VARCHAR""",
    "lineage": """upstream VARCHAR, downstream VARCHAR, job VARCHAR""",
    # Offsets a job went past without reading them (ON_RETENTION_GAP = SKIP).
    "gaps": """job VARCHAR, "partition" VARCHAR, first_lost BIGINT, last_lost BIGINT, run_id BIGINT,
        detected_at TIMESTAMPTZ""",
}

INTERNAL_TABLES: dict[str, str] = {
    "meta": "key VARCHAR, value VARCHAR",
    # The rows of system.jobs, watermarks and offsets as they were written: a row per change
    # (a commit adds one rather than deleting the old one); those views show each key's newest
    # (headwater.lake.latest); maintenance drops the older rows.
    **{v.log: v.types for v in VIEWS},
    # What `run` last deployed: the plan diffs the project's files against this.
    "deployed": "name VARCHAR, kind VARCHAR, fingerprint VARCHAR, sql VARCHAR, deployed_at TIMESTAMPTZ",
    # Per-job progress of transformation jobs, and pause/fail flags of every job.
    "job_state": """job VARCHAR, next_window TIMESTAMPTZ, paused BOOLEAN, failed BOOLEAN,
        error VARCHAR, updated_at TIMESTAMPTZ""",
    # Per-table commit clocks: $commit_time never goes backwards. A commit adds a row; a table's
    # clock is its newest last_commit (maintenance drops the older rows). (sealed_until: unused.)
    # read_snapshot: of an incremental view's refresh, the lake snapshot it read (the next one
    # reads the changes after it); NULL otherwise.
    "clocks": "table_name VARCHAR, last_commit TIMESTAMPTZ, sealed_until TIMESTAMPTZ, read_snapshot BIGINT",
    # Windows of transformation jobs that ran before they were final; replaced when run again.
    "provisional": """job VARCHAR, run_id BIGINT, window_start TIMESTAMPTZ, window_end TIMESTAMPTZ,
        target VARCHAR, commit_time TIMESTAMPTZ""",
    # Keys written by jobs with DEDUPLICATE_WITH, salted and hashed; expired past the window.
    "dedupe": "job VARCHAR, key_hi BIGINT, key_lo BIGINT, seen_at TIMESTAMPTZ",
    # Interactive ALTER JOB ... ADD/DROP EXPECTATION, applied on top of the project's files.
    "job_overrides": 'job VARCHAR, action VARCHAR, name VARCHAR, sql VARCHAR, "at" TIMESTAMPTZ',
    # The query fingerprint and inputs version each materialized view was last computed from;
    # refreshed_at: when those last changed (rewritten only then; the view's last commit is its clock).
    "views": "view_name VARCHAR, fingerprint VARCHAR, inputs_snapshot BIGINT, refreshed_at TIMESTAMPTZ",
    # Per incremental view and input table: the table's id and columns when the view was last
    # recomputed in full (a re-created or altered input means a full recompute), and the
    # snapshot it read then (the snapshot each refresh read is in its clock row).
    "view_inputs": "view_name VARCHAR, table_name VARCHAR, table_id BIGINT, snapshot_id BIGINT, columns VARCHAR",
}

# Views of the system schema (bound in the lake's own catalog, whatever name it is attached as).
SYSTEM_VIEWS: dict[str, str] = {v.name: v.view_sql() for v in VIEWS}

TABLES_FINGERPRINT = hashlib.sha256(
    repr(
        (
            STATE_VERSION,
            sorted(SYSTEM_TABLES.items()),
            sorted(INTERNAL_TABLES.items()),
            sorted(SYSTEM_VIEWS.items()),
        )
    ).encode()
).hexdigest()[:16]
_FINGERPRINT_KEY = "tables_fingerprint"


def system_tables_current(lake: Lake) -> bool:
    """Whether ``ensure_system_tables`` has nothing to do on this lake: it recorded the
    fingerprint of this version's tables (one query; False on a lake without them)."""
    try:
        row = lake.fetchone(
            f"SELECT max(value) FROM {LAKE}.{INTERNAL_SCHEMA}.meta WHERE key = '{_FINGERPRINT_KEY}'"
        )
    except duckdb.CatalogException:
        return False  # (no meta table: a new lake)
    return bool(row) and row[0] == TABLES_FINGERPRINT  # type: ignore[index]


def ensure_system_tables(lake: Lake) -> None:
    """Create every system and internal table that does not exist yet (idempotent), and set
    the lake's data inlining limit (new and existing lakes)."""
    configure(lake)
    existing = set(lake.tables())
    statements: list[str] = []
    for schema, tables in ((SYSTEM_SCHEMA, SYSTEM_TABLES), (INTERNAL_SCHEMA, INTERNAL_TABLES)):
        have_schema = any(s == schema for s, _ in existing) or bool(
            lake.fetchone(
                "SELECT count(*) FROM duckdb_schemas() WHERE database_name = ? AND schema_name = ?",
                [LAKE, schema],
            )[0]  # type: ignore[index]
        )
        if not have_schema:
            statements.append(f"CREATE SCHEMA {LAKE}.{schema}")
        for name, columns in tables.items():
            if (schema, name) not in existing:
                statements.append(f"CREATE TABLE {LAKE}.{schema}.{name} ({columns})")
    version = _state_version(lake) if (INTERNAL_SCHEMA, "meta") in existing else STATE_VERSION
    if version < 2:
        # 1 -> 2: the dedupe keys changed encoding; the old keys cannot be converted, so the
        # state restarts empty (re-sends within one window of the upgrade are written again).
        statements += [
            f"DROP TABLE IF EXISTS {LAKE}.{INTERNAL_SCHEMA}.dedupe",
            f"CREATE TABLE {LAKE}.{INTERNAL_SCHEMA}.dedupe ({INTERNAL_TABLES['dedupe']})",
        ]
    if version < 3 and (SYSTEM_SCHEMA, "offsets") in existing:
        have = set(lake.columns(SYSTEM_SCHEMA, "offsets"))
        for column, typ in (
            ("end_position", "BIGINT"),
            ("behind", "BIGINT"),
            ("seconds_behind", "DOUBLE"),
            ("connection", "VARCHAR"),
        ):
            if column not in have:
                statements.append(f"ALTER TABLE {LAKE}.{SYSTEM_SCHEMA}.offsets ADD COLUMN {column} {typ}")
    if version < 6 and (INTERNAL_SCHEMA, "clocks") in existing:
        clocks, inputs = f"{LAKE}.{INTERNAL_SCHEMA}.clocks", f"{LAKE}.{INTERNAL_SCHEMA}.view_inputs"
        if "read_snapshot" not in lake.columns(INTERNAL_SCHEMA, "clocks"):
            statements.append(f"ALTER TABLE {clocks} ADD COLUMN read_snapshot BIGINT")
        if (INTERNAL_SCHEMA, "view_inputs") in existing:
            # The snapshot each incremental view last read moves to its newest clock row.
            statements.append(
                f"UPDATE {clocks} c SET read_snapshot = (SELECT max(snapshot_id) FROM {inputs} v "
                "WHERE v.view_name = c.table_name) WHERE c.last_commit = (SELECT max(last_commit) "
                f"FROM {clocks} d WHERE d.table_name = c.table_name) "
                f"AND c.table_name IN (SELECT view_name FROM {inputs})"
            )
    for view in VIEWS:
        key = (SYSTEM_SCHEMA, view.name)
        if version < view.since and key in existing and not _is_view(lake, SYSTEM_SCHEMA, view.name):
            # It was a table: its rows become the first rows of the view's log.
            statements += [
                f"INSERT INTO {view.log_table} SELECT {view.columns} FROM {view.view}",
                f"DROP TABLE {view.view}",
            ]
            existing.discard(key)
        if key not in existing:
            statements.append(f"CREATE VIEW {view.view} AS {view.view_sql()}")
    if version < STATE_VERSION:
        statements.append(
            f"UPDATE {LAKE}.{INTERNAL_SCHEMA}.meta SET value = '{STATE_VERSION}' WHERE key = 'state_version'"
        )
    if not statements and system_tables_current(lake):
        return
    statements += [
        f"DELETE FROM {LAKE}.{INTERNAL_SCHEMA}.meta WHERE key = '{_FINGERPRINT_KEY}'",
        f"INSERT INTO {LAKE}.{INTERNAL_SCHEMA}.meta VALUES ('{_FINGERPRINT_KEY}', '{TABLES_FINGERPRINT}')",
    ]
    with lake.transaction():
        for sql in statements:
            lake.execute(sql)
        if (INTERNAL_SCHEMA, "meta") not in existing:
            lake.execute(
                f"INSERT INTO {LAKE}.{INTERNAL_SCHEMA}.meta VALUES ('state_version', ?)", [str(STATE_VERSION)]
            )
            # A new lake writes Parquet 2 pages: cheaper to encode and smaller (delta encodings).
            lake.execute(f"CALL {LAKE}.set_option('parquet_version', 2)")


def _is_view(lake: Lake, schema: str, name: str) -> bool:
    row = lake.fetchone(
        "SELECT count(*) FROM duckdb_views() WHERE database_name = ? AND schema_name = ? AND view_name = ?",
        [LAKE, schema, name],
    )
    return bool(row and row[0])


def _state_version(lake: Lake) -> int:
    row = lake.fetchone(f"SELECT max(value) FROM {LAKE}.{INTERNAL_SCHEMA}.meta WHERE key = 'state_version'")
    return int(row[0]) if row and row[0] is not None else STATE_VERSION
