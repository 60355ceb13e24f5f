"""Materialized views: recomputed in one transaction whenever an input table changed."""

from __future__ import annotations

import duckdb

from headwater.catalog.model import Entry
from headwater.dialect import to_duckdb
from headwater.dialect.nodes import CreateMaterializedView
from headwater.lake import INTERNAL_SCHEMA, LAKE, qualified, quote
from headwater.lake.tables import ensure_schema, without_columns
from headwater.observe.events import JobSkipped, ViewRefreshed
from headwater.runner.context import RunContext
from headwater.runner.errors import RunnerError
from headwater.runner.windows import qualify_system_tables
from headwater.state import store

VIEWS = f"{LAKE}.{INTERNAL_SCHEMA}.views"


def _inputs_version(ctx: RunContext, entry: Entry) -> int:
    """A number that changes whenever an input commits: the newest input commit clock (µs).
    Views over system tables change with every run, so they always count as changed."""
    if any(t.schema == "system" for t in entry.reads):
        return -1
    inputs = [str(t) for t in entry.reads]
    latest = ctx.lake.fetchone(
        f"SELECT max(last_commit) FROM {LAKE}.{INTERNAL_SCHEMA}.clocks WHERE list_contains(?, table_name)",
        [inputs],
    )
    return int(latest[0].timestamp() * 1_000_000) if latest and latest[0] is not None else 0


def _inputs_changed(ctx: RunContext, entry: Entry, version: int) -> bool:
    row = ctx.lake.fetchone(
        f"SELECT fingerprint, inputs_snapshot FROM {VIEWS} WHERE view_name = ?", [entry.name]
    )
    if row is None or row[0] != entry.fingerprint or version < 0:
        return True
    if not ctx.lake.table_exists(entry.writes.schema, entry.writes.name):  # type: ignore[union-attr]
        return True
    return bool(row[1] != version)


def refresh_view(ctx: RunContext, entry: Entry) -> int | None:
    """Recompute the view if needed. Returns its row count, or None when it was up to date."""
    stmt: CreateMaterializedView = entry.statement  # type: ignore[assignment]
    missing = without_columns(ctx.lake, entry.reads)
    if missing:
        ctx.emit(JobSkipped(str(stmt.view), f"waiting for the first rows of {', '.join(map(str, missing))}"))
        return None
    version = _inputs_version(ctx, entry)
    if not _inputs_changed(ctx, entry, version):
        return None
    lake = ctx.lake
    view = stmt.view
    name = qualified(view.schema, view.name)
    run = store.RunRecord(view.name if view.schema == "main" else str(view), ctx.new_run_id(), store.utcnow())
    query = to_duckdb(qualify_system_tables(stmt.query))
    with lake.transaction():
        commit_time = store.next_commit_time(lake)
        ensure_schema(lake, view.schema)
        try:
            inner = lake.con.sql(f"SELECT * FROM ({query}) LIMIT 0").columns
            system = [c for c in inner if c in ("$event_time", "$commit_time", "$source", "$run_id")]
            star = f"* EXCLUDE ({', '.join(quote(c) for c in system)})" if system else "*"
            select = (
                f"SELECT {star}, TIMESTAMPTZ '{commit_time.isoformat()}' AS \"$event_time\", "
                f"TIMESTAMPTZ '{commit_time.isoformat()}' AS \"$commit_time\", "
                f'\'view:{view}\' AS "$source", {run.run_id}::BIGINT AS "$run_id" FROM ({query})'
            )
            lake.execute(f"DROP TABLE IF EXISTS {name}")
            lake.execute(f"CREATE TABLE {name} AS {select}")
        except duckdb.Error as e:
            raise RunnerError(
                f"materialized view {view} ({stmt.pos}): {str(e).strip()}", hint="fix the view's query"
            ) from None
        count = lake.fetchone(f"SELECT count(*) FROM {name}")
        rows = int(count[0]) if count else 0
        run.rows_read = run.rows_written = rows
        lake.execute(f"DELETE FROM {VIEWS} WHERE view_name = ?", [entry.name])
        lake.execute(
            f"INSERT INTO {VIEWS} VALUES (?, ?, ?, ?)", [entry.name, entry.fingerprint, version, commit_time]
        )
        store.record_run(lake, run)
        store.advance_clock(lake, str(view), commit_time)
        store.set_job_status(lake, run.job, "materialized_view", str(view), "running", lag=0.0)
    ctx.emit(ViewRefreshed(str(view), rows))
    return rows
