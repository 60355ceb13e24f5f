"""Materialized views: refreshed in one transaction whenever an input table changed, from the
changes when the query allows it (``runner.incremental``), else recomputed in full."""

from __future__ import annotations

import duckdb

from headwater.catalog.model import Entry
from headwater.dialect import to_duckdb
from headwater.dialect.nodes import CreateMaterializedView
from headwater.lake import INTERNAL_SCHEMA, LAKE, Lake, qualified, quote
from headwater.lake.changes import signature, table_columns
from headwater.lake.tables import ensure_schema, lake_columns, user_columns
from headwater.observe.events import JobSkipped, ViewRefreshed
from headwater.plan.incremental import analyse
from headwater.runner import incremental
from headwater.runner.context import RunContext
from headwater.runner.errors import RunnerError
from headwater.runner.view_sql import ViewSQL
from headwater.runner.windows import qualify_system_tables
from headwater.state import store

VIEWS = f"{LAKE}.{INTERNAL_SCHEMA}.views"
_SYSTEM = ("$event_time", "$commit_time", "$source", "$run_id")


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


def _known(ctx: RunContext, entry: Entry) -> tuple[str, int] | None:
    """The view's row in ``headwater.views``: the fingerprint and inputs version it was last
    refreshed with (None: never)."""
    row = ctx.lake.fetchone(
        f"SELECT fingerprint, inputs_snapshot FROM {VIEWS} WHERE view_name = ?", [entry.name]
    )
    return None if row is None else (str(row[0]), int(row[1]))


def _inputs_changed(ctx: RunContext, entry: Entry, known: tuple[str, int] | None, version: int) -> bool:
    if known is None or known[0] != entry.fingerprint or version < 0:
        return True
    if not ctx.lake.table_exists(entry.writes.schema, entry.writes.name):  # type: ignore[union-attr]
        return True
    return bool(known[1] != version)


_PREPARED: dict[tuple[str, tuple[str, ...]], ViewSQL | str] = {}


def refresh_sql(lake: Lake, entry: Entry, columns: dict[str, dict[str, str]] | None = None) -> ViewSQL | str:
    """How the view refreshes: its incremental SQL, or "full recompute: <why>". ``columns``:
    the lake's tables and their columns (``changes.table_columns``); the answer is
    kept for as long as the view's SQL and its inputs' columns stay the same."""
    stmt: CreateMaterializedView = entry.statement  # type: ignore[assignment]
    columns = table_columns(lake) if columns is None else columns
    key = (entry.fingerprint, tuple(signature(columns.get(str(t), {})) for t in entry.reads))
    if key in _PREPARED:
        return _PREPARED[key]
    analysis = analyse(stmt.query, lambda t: list(columns.get(str(t), {})))
    if analysis.shape is None:
        return analysis.describe()
    try:
        prepared = incremental.prepare(lake, entry, analysis.shape)
    except duckdb.Error as e:
        raise RunnerError(
            f"materialized view {stmt.view} ({stmt.pos}): {str(e).strip()}", hint="fix the view's query"
        ) from None
    if len(_PREPARED) > 1000:
        _PREPARED.clear()
    _PREPARED[key] = prepared if isinstance(prepared, ViewSQL) else f"full recompute: {prepared}"
    return _PREPARED[key]


def describe_refresh(lake: Lake, entry: Entry) -> str:
    """``incremental`` or ``full recompute: <why>``, for `plan` (from the query alone while
    an input table does not exist yet)."""
    stmt: CreateMaterializedView = entry.statement  # type: ignore[assignment]
    if any(t.schema != "system" and not lake.table_exists(t.schema, t.name) for t in entry.reads):
        return analyse(stmt.query, lake_columns(lake)).describe()
    try:
        how = refresh_sql(lake, entry)
    except RunnerError as e:
        return f"full recompute: {e}"
    return "incremental" if isinstance(how, ViewSQL) else how


def refresh_view(ctx: RunContext, entry: Entry) -> int | None:
    """Refresh the view if an input changed. Returns the rows it wrote, or None when it was
    up to date."""
    stmt: CreateMaterializedView = entry.statement  # type: ignore[assignment]
    lake = ctx.lake
    columns = table_columns(lake)
    # (a table declared without columns waits for its first rows, which bring them)
    missing = [t for t in entry.reads if t.schema != "system" and not user_columns(columns.get(str(t), {}))]
    if missing:
        ctx.emit(JobSkipped(str(stmt.view), f"waiting for the first rows of {', '.join(map(str, missing))}"))
        return None
    sql = refresh_sql(lake, entry, columns)
    nested = isinstance(sql, ViewSQL) and lake.in_transaction
    if nested:
        # Inside another transaction (a replay), the rows read include changes that no snapshot
        # holds yet: no snapshot describes what the view would have read. Recompute without state;
        # the next refresh, after the commit, rebuilds it.
        sql = "full recompute: inside a replay's transaction"
    version, known = 0, None
    if isinstance(sql, str) and not nested:
        version, known = _inputs_version(ctx, entry), _known(ctx, entry)
        if not _inputs_changed(ctx, entry, known, version):
            return None
    view = stmt.view
    run = store.RunRecord(view.name if view.schema == "main" else str(view), ctx.new_run_id(), store.utcnow())
    with lake.transaction():
        decided = None
        if isinstance(sql, ViewSQL):
            decided = incremental.plan_refresh(lake, entry, sql.shape, columns)
            if decided is None:
                return None
            known = decided.known
        commit_time = store.next_commit_time(lake)
        system = (
            f", TIMESTAMPTZ '{commit_time.isoformat()}' AS \"$event_time\", "
            f"TIMESTAMPTZ '{commit_time.isoformat()}' AS \"$commit_time\", "
            f'\'view:{view}\' AS "$source", {run.run_id}::BIGINT AS "$run_id"'
        )
        ensure_schema(lake, view.schema)
        try:
            if isinstance(sql, ViewSQL) and decided is not None:
                how = decided.how
                rows = (
                    incremental.apply_changes(lake, sql, view, decided, system)
                    if how == "incremental"
                    else how
                )
                if isinstance(rows, str):
                    how = rows
                    rows = incremental.recompute(lake, sql, view, system)
                incremental.remember_inputs(lake, str(view), sql.shape, decided, columns, how)
            else:
                assert isinstance(sql, str)
                how = sql
                if any(
                    t.startswith(f"{INTERNAL_SCHEMA}.{incremental.state_table(str(view))}") for t in columns
                ):
                    incremental.drop_state(lake, str(view))
                rows = _recompute(lake, stmt, system)
        except duckdb.Error as e:
            raise RunnerError(
                f"materialized view {view} ({stmt.pos}): {str(e).strip()}", hint="fix the view's query"
            ) from None
        run.rows_read = run.rows_written = rows
        if known != (entry.fingerprint, version):  # (its time is the view's clock: clocks.last_commit)
            lake.execute(f"DELETE FROM {VIEWS} WHERE view_name = ?", [entry.name])
            lake.execute(
                f"INSERT INTO {VIEWS} VALUES (?, ?, ?, ?)",
                [entry.name, entry.fingerprint, version, commit_time],
            )
        store.record_run(lake, run)
        store.advance_clock(lake, str(view), commit_time, newest=True)
        store.set_job_status(lake, run.job, "materialized_view", str(view), "running", lag=0.0)
    ctx.emit(ViewRefreshed(str(view), rows, how))
    return rows


def _recompute(lake: Lake, stmt: CreateMaterializedView, system: str) -> int:
    """Replace the view's table with its query's rows."""
    view = stmt.view
    name = qualified(view.schema, view.name)
    query = to_duckdb(qualify_system_tables(stmt.query))
    inner = lake.con.sql(f"SELECT * FROM ({query}) LIMIT 0").columns
    hidden = [c for c in inner if c in _SYSTEM]
    star = f"* EXCLUDE ({', '.join(quote(c) for c in hidden)})" if hidden else "*"
    lake.execute(f"DROP TABLE IF EXISTS {name}")
    count = lake.fetchone(f"CREATE TABLE {name} AS SELECT {star}{system} FROM ({query})")
    return int(count[0]) if count else 0
