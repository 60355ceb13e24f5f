"""Materialized views: refreshed in one transaction whenever an input table changed, from the
changes when the query allows it (``runner.incremental``), else recomputed in full."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


@dataclass
class Seen:
    """What the lake knows of a view when its refresh starts, read in one query inside the
    refresh's transaction (each lake table a statement reads or deletes from costs some
    milliseconds of catalog work, and a statement of its own a transaction too)."""

    snapshot: int  # the snapshot the transaction reads
    known: tuple[str, int] | None  # its row in headwater.views: fingerprint, inputs version
    inputs_version: int  # the newest input commit (µs), -1 over system tables (always new)
    latest_commit: datetime | None  # the newest commit clock of the lake, for the next one
    inputs: list[tuple[str, int, int, str]]  # headwater.view_inputs: table, id, snapshot, columns
    read_snapshot: int | None  # its newest clock row's: the snapshot its last refresh read


def _seen(lake: Lake, entry: Entry, incremental_view: bool) -> Seen:
    view, reads = str(entry.writes), [str(t) for t in entry.reads]
    inputs = (
        "(SELECT list((table_name, table_id, snapshot_id, columns)) "
        f"FROM {incremental.VIEW_INPUTS} WHERE view_name = ?)"
        if incremental_view
        else "NULL"
    )
    row = lake.fetchone(
        f"SELECT (SELECT id FROM {LAKE}.current_snapshot()), "
        f"(SELECT first({{'f': fingerprint, 'v': inputs_snapshot}}) FROM {VIEWS} WHERE view_name = ?), "
        "(SELECT {'inputs': max(last_commit) FILTER (WHERE list_contains(?, table_name)), "
        "'latest': max(last_commit), "
        "'read': arg_max({'s': read_snapshot}, last_commit) FILTER (WHERE table_name = ?)} "
        f"FROM {LAKE}.{INTERNAL_SCHEMA}.clocks), {inputs}",
        [entry.name, reads, view] + ([view] if incremental_view else []),
    )
    assert row is not None
    snapshot, known, clocks, remembered = row
    newest = clocks["inputs"]
    if any(t.schema == "system" for t in entry.reads):
        version = -1
    else:
        version = int(newest.timestamp() * 1_000_000) if newest is not None else 0
    return Seen(
        int(snapshot or 0),
        None if known is None else (str(known["f"]), int(known["v"])),
        version,
        clocks["latest"],
        [tuple(r) for r in remembered or []],
        None if clocks["read"] is None or clocks["read"]["s"] is None else int(clocks["read"]["s"]),
    )


def _inputs_changed(entry: Entry, seen: Seen, columns: dict[str, dict[str, str]]) -> bool:
    if seen.known is None or seen.known[0] != entry.fingerprint or seen.inputs_version < 0:
        return True
    if str(entry.writes) not in columns:
        return True
    return seen.known[1] != seen.inputs_version


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
    replay = lake.in_transaction
    view = stmt.view
    run = store.RunRecord(view.name if view.schema == "main" else str(view), ctx.new_run_id(), store.utcnow())
    # (all of it in one transaction: the first statement of each pays for the lake's catalog)
    with lake.transaction():
        columns = table_columns(lake)
        # (a table declared without columns waits for its first rows, which bring them)
        missing = [
            t for t in entry.reads if t.schema != "system" and not user_columns(columns.get(str(t), {}))
        ]
        if missing:
            ctx.emit(JobSkipped(str(view), f"waiting for the first rows of {', '.join(map(str, missing))}"))
            return None
        sql = refresh_sql(lake, entry, columns)
        nested = isinstance(sql, ViewSQL) and replay
        if nested:
            # Inside another transaction (a replay), the rows read include changes that no snapshot
            # holds yet: no snapshot describes what the view would have read. Recompute without
            # state; the next refresh, after the commit, rebuilds it.
            sql = "full recompute: inside a replay's transaction"
        seen = _seen(lake, entry, isinstance(sql, ViewSQL))
        version, decided = 0, None
        if isinstance(sql, ViewSQL):
            decided = incremental.plan_refresh(
                lake, entry, sql.shape, columns, seen.snapshot, seen.known, seen.inputs, seen.read_snapshot
            )
            if decided is None:
                return None
        elif not nested:
            version = seen.inputs_version
            if not _inputs_changed(entry, seen, columns):
                return None
        commit_time = store.commit_time_after(seen.latest_commit)
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
        if seen.known != (entry.fingerprint, version):  # (its time is the view's clock: clocks.last_commit)
            if seen.known is not None:
                lake.execute(f"DELETE FROM {VIEWS} WHERE view_name = ?", [entry.name])
            lake.execute(
                f"INSERT INTO {VIEWS} VALUES (?, ?, ?, ?)",
                [entry.name, entry.fingerprint, version, commit_time],
            )
        store.record_run(lake, run)
        read = decided.snapshot if decided is not None else None  # (an incremental view's)
        store.advance_clock(lake, str(view), commit_time, read_snapshot=read)
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
