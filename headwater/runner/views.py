"""Materialized views: recomputed in one transaction whenever an input table changed."""

from __future__ import annotations

import duckdb

from headwater.catalog.model import Entry
from headwater.dialect import to_duckdb
from headwater.dialect.nodes import CreateMaterializedView
from headwater.lake import INTERNAL_SCHEMA, LAKE, qualified
from headwater.lake.tables import ensure_schema
from headwater.observe.events import JobSkipped, ViewRefreshed
from headwater.runner.context import RunContext
from headwater.runner.errors import RunnerError
from headwater.runner.windows import qualify_system_tables
from headwater.state import store

VIEWS = f"{LAKE}.{INTERNAL_SCHEMA}.views"


def _inputs_changed(ctx: RunContext, entry: Entry) -> bool:
    row = ctx.lake.fetchone(
        f"SELECT fingerprint, refreshed_at FROM {VIEWS} WHERE view_name = ?", [entry.name]
    )
    if row is None or row[0] != entry.fingerprint:
        return True
    if not ctx.lake.table_exists(entry.writes.schema, entry.writes.name):  # type: ignore[union-attr]
        return True
    inputs = [str(t) for t in entry.reads]
    latest = ctx.lake.fetchone(
        f"SELECT max(last_commit) FROM {LAKE}.{INTERNAL_SCHEMA}.clocks WHERE list_contains(?, table_name)",
        [inputs],
    )
    return bool(latest and latest[0] is not None and latest[0] > row[1])


def refresh_view(ctx: RunContext, entry: Entry) -> int | None:
    """Recompute the view if needed. Returns its row count, or None when it was up to date."""
    stmt: CreateMaterializedView = entry.statement  # type: ignore[assignment]
    missing = [t for t in entry.reads if t.schema != "system" and not ctx.lake.table_exists(t.schema, t.name)]
    if missing:
        ctx.emit(JobSkipped(str(stmt.view), f"waiting for the first rows of {', '.join(map(str, missing))}"))
        return None
    if not _inputs_changed(ctx, entry):
        return None
    lake = ctx.lake
    view = stmt.view
    name = qualified(view.schema, view.name)
    run = store.RunRecord(view.name if view.schema == "main" else str(view), ctx.new_run_id(), store.utcnow())
    query = to_duckdb(qualify_system_tables(stmt.query))
    with lake.transaction():
        commit_time = store.next_commit_time(lake, [str(view)])
        select = (
            f"SELECT *, TIMESTAMPTZ '{commit_time.isoformat()}' AS \"$event_time\", "
            f"TIMESTAMPTZ '{commit_time.isoformat()}' AS \"$commit_time\", "
            f'\'view:{view}\' AS "$source", {run.run_id}::BIGINT AS "$run_id" FROM ({query})'
        )
        ensure_schema(lake, view.schema)
        try:
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
            f"INSERT INTO {VIEWS} VALUES (?, ?, ?, ?)", [entry.name, entry.fingerprint, 0, commit_time]
        )
        store.record_run(lake, run)
        store.advance_clock(lake, str(view), commit_time)
        store.set_job_status(lake, run.job, "materialized_view", str(view), "running", lag=0.0)
    ctx.emit(ViewRefreshed(str(view), rows))
    return rows
