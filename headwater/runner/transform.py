"""Transformation jobs: INSERT ... SELECT and MERGE, once per RUN_INTERVAL window on $commit_time.

Each window's output, the job's progress and its run record commit in one transaction. With
``run --once`` a window that is not final yet (still open, or reading rows an upstream window
may still replace) runs now, provisionally, and is run again later, replacing its output
(see ``runner/provisional.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
from sqlglot import exp

from headwater.catalog.columns import check_names, expectation_uses
from headwater.catalog.model import Entry
from headwater.dialect import to_duckdb
from headwater.dialect.nodes import KAFKA_COLUMNS, CreateTransformJob, TableName
from headwater.lake import INTERNAL_SCHEMA, LAKE, qualified, quote
from headwater.lake.tables import ensure_table, user_columns
from headwater.observe.events import JobSkipped, WindowCommitted
from headwater.quality import batch as quality
from headwater.quality import quarantine
from headwater.quality.batch import QualitySpec
from headwater.quality.diagnose import explain_failure
from headwater.quality.errors import JobStopped
from headwater.runner import watermarks
from headwater.runner.context import RunContext
from headwater.runner.errors import RunnerError
from headwater.runner.ingest import parse_timestamp
from headwater.runner.merge import merge_window
from headwater.runner.provisional import is_final, label_commit, undo
from headwater.runner.windows import bind_window, floor_window, ts_literal
from headwater.sources.files import Sources
from headwater.state import failpoints, store


class WaitingForData(Exception):
    """An input table has no columns yet: the job waits for its first rows."""


def lake_inputs(ctx: RunContext, entry: Entry) -> list[TableName]:
    return [t for t in entry.reads if t.schema != "system" and ctx.lake.table_exists(t.schema, t.name)]


def next_data_time(
    ctx: RunContext, tables: list[TableName], after: datetime | None, column: str = "$commit_time"
) -> datetime | None:
    """The earliest ``column`` ($commit_time, or $event_time for SYNC jobs) at or after
    ``after`` in any of ``tables``."""
    if not tables:
        return None
    parts = []
    col = quote(column)
    for t in tables:
        where = "" if after is None else f" WHERE {col} >= {to_duckdb(ts_literal(after))}"
        parts.append(f"SELECT min({col}) AS m FROM {qualified(t.schema, t.name)}{where}")
    row = ctx.lake.fetchone(f"SELECT min(m) FROM ({' UNION ALL '.join(parts)})")
    return row[0] if row else None


def initial_window(ctx: RunContext, stmt: CreateTransformJob, tables: list[TableName]) -> datetime | None:
    interval = stmt.options.run_interval.seconds
    start = stmt.options.start_from
    if start is not None and start.kind == "NOW":
        return floor_window(store.utcnow(), interval)
    if start is not None and start.kind == "TIMESTAMP":
        return floor_window(parse_timestamp(str(start.timestamp)), interval)
    first = next_data_time(ctx, tables, None)
    return floor_window(first, interval) if first else None


def run_transform(ctx: RunContext, entry: Entry) -> int:
    """Run every window that is due, in order. Returns the rows written.

    Closed windows whose inputs are final run for good; with ``run --once`` (``ctx.drain``) the
    windows after them run too, provisionally. A window that ran provisionally runs again at
    the job's next pass that reaches it, replacing its output in the same transaction."""
    stmt: CreateTransformJob = entry.statement  # type: ignore[assignment]
    if stmt.sync:
        from headwater.runner.sync import run_sync

        return run_sync(ctx, entry)
    interval = timedelta(seconds=stmt.options.run_interval.seconds)
    state = store.load_job_state(ctx.lake, stmt.name)
    tables = lake_inputs(ctx, entry)
    provisional = store.load_provisional(ctx.lake, stmt.name)
    start = state.next_window or initial_window(ctx, stmt, tables)
    if start is None:
        return 0
    if state.next_window is None:  # remember where the job starts (START_FROM = NOW)
        state.next_window = start
        with ctx.lake.transaction():
            store.save_job_state(ctx.lake, state)
    final_until = store.final_until(ctx.lake, [str(t) for t in tables])
    written = 0
    while True:
        nxt = next_data_time(ctx, tables, start)
        redo = min((w for w in provisional if w >= start), default=None)
        if redo is not None and (nxt is None or redo < nxt):
            nxt = redo
        if nxt is None:
            break
        if nxt >= start + interval:
            start = floor_window(nxt, int(interval.total_seconds()))  # skip empty windows
        end = start + interval
        final = is_final(end, store.utcnow(), final_until)
        if not final and not ctx.drain:
            break
        replaces = provisional.pop(start, None)
        if replaces is not None and not _changed_since(ctx, tables, replaces.commit_time):
            # Its inputs are as the provisional run read them: running it again would write
            # the same rows. Its output stands; once the window is final, it is so too.
            if final:
                with ctx.lake.transaction():
                    store.promote_provisional(ctx.lake, replaces)
                    state = store.load_job_state(ctx.lake, stmt.name)
                    state.next_window = end
                    store.save_job_state(ctx.lake, state)
            start = end
            continue
        try:
            written += _run_window(ctx, stmt, tables, start, end, final, replaces)
        except WaitingForData as e:
            ctx.emit(JobSkipped(stmt.name, str(e)))
            break
        start = end
        if ctx.stop.is_set():
            break
    return written


def _changed_since(ctx: RunContext, tables: list[TableName], at: datetime) -> bool:
    """Whether any input committed after ``at`` (new rows, or rows replaced upstream)."""
    row = ctx.lake.fetchone(
        f"SELECT max(last_commit) FROM {LAKE}.{INTERNAL_SCHEMA}.clocks WHERE list_contains(?, table_name)",
        [[str(t) for t in tables]],
    )
    return bool(row and row[0] is not None and row[0] > at)


def _run_window(
    ctx: RunContext,
    stmt: CreateTransformJob,
    tables: list[TableName],
    start: datetime,
    end: datetime,
    final: bool,
    replaces: store.ProvisionalRun | None,
) -> int:
    lake = ctx.lake
    run = store.RunRecord(stmt.name, ctx.new_run_id(), store.utcnow(), start, end)
    if not final:
        run.status = "provisional"
    with lake.transaction():
        if replaces is not None:
            undo(lake, replaces)
        commit_time = store.next_commit_time(lake)
        body = bind_window(stmt.body, start, end)
        try:
            if isinstance(body, exp.Merge):
                system = {**_system_values(stmt, commit_time, run.run_id), "$source": f"'job:{stmt.name}'"}
                merge_window(ctx, stmt, body, run, commit_time, system)
            else:
                _insert(ctx, stmt, body, run, commit_time)
        except duckdb.Error as e:
            _raise_query_error(ctx, stmt, tables, e)
        run.check_accounting()
        run.rows_late = watermarks.count_late(
            lake, stmt.target, run.run_id, watermarks.late_before(ctx, stmt.target)
        )
        progress = store.load_job_state(lake, stmt.name)
        if final:
            progress.next_window = end
            store.save_job_state(lake, progress)
            if stmt.sync:
                store.save_watermark(lake, store.Watermark(stmt.name, "transform", end))
        else:
            target = str(stmt.target)
            store.save_provisional(
                lake, store.ProvisionalRun(stmt.name, run.run_id, start, end, target, commit_time)
            )
            label_commit(lake, stmt.name, run.run_id)
        store.record_run(lake, run)
        store.advance_clock(lake, str(stmt.target), commit_time)
        lag = (store.utcnow() - end).total_seconds()
        store.set_job_status(lake, stmt.name, "transform", str(stmt.target), "running", lag=max(lag, 0.0))
        failpoints.hit("transform.before_commit")
    failpoints.hit("transform.after_commit")
    ctx.emit(
        WindowCommitted(
            stmt.name, run.run_id, start, end, run.rows_read, run.rows_written, provisional=not final
        )
    )
    return run.rows_written


def _raise_query_error(
    ctx: RunContext, stmt: CreateTransformJob, tables: list[TableName], e: duckdb.Error
) -> None:
    text = str(e).strip()
    if isinstance(e, duckdb.CatalogException):
        missing = [t for t in ctx.catalog.known_tables() if not ctx.lake.table_exists(t.schema, t.name)]
        if any(str(t) in text or f'"{t.name}"' in text for t in missing):
            raise WaitingForData(f"waiting for the first rows of {', '.join(map(str, missing))}") from None
    if isinstance(e, duckdb.BinderException):
        empty = [t for t in tables if not user_columns(ctx.lake.columns(t.schema, t.name))]
        if empty:
            raise WaitingForData(f"waiting for the first rows of {', '.join(map(str, empty))}") from None
    raise RunnerError(
        f"job {stmt.name} ({stmt.pos}): {text}", hint="fix the job's SQL, then run again"
    ) from None


def _system_values(stmt: CreateTransformJob, commit_time: datetime, run_id: int) -> dict[str, str]:
    return {
        "$commit_time": f"TIMESTAMPTZ '{commit_time.isoformat()}'",
        "$run_id": f"{run_id}::BIGINT",
    }


def _insert(
    ctx: RunContext,
    stmt: CreateTransformJob,
    body: exp.Expr,
    run: store.RunRecord,
    commit_time: datetime,
) -> None:
    lake = ctx.lake
    assert isinstance(body, exp.Insert)
    select = body.expression
    names: list[str] | None = None
    if isinstance(body.this, exp.Schema):
        names = [i.name for i in body.this.expressions]
    out = lake.con.sql(to_duckdb(select)).to_arrow_table()
    if names:
        if len(names) != out.num_columns:
            raise RunnerError(
                f"job {stmt.name}: INSERT names {len(names)} columns but the SELECT gives {out.num_columns}"
            )
        out = out.rename_columns(names)
    out = out.append_column(quality.LINE, pa.array(np.arange(1, out.num_rows + 1, dtype=np.int64)))
    lake.con.register("hw_window", out)
    try:
        _write_window(ctx, stmt, run, commit_time)
    finally:
        lake.con.unregister("hw_window")


def _write_window(
    ctx: RunContext, stmt: CreateTransformJob, run: store.RunRecord, commit_time: datetime
) -> None:
    """Expectations on the window's output (registered as hw_window), then the write."""
    lake = ctx.lake
    spec = ctx.quality_spec(ctx.catalog.job(stmt.name))  # type: ignore[arg-type]
    outcome = _expectations(ctx, stmt, spec, "hw_window", "the rows its SELECT returns", run)
    rel = lake.con.sql(f"SELECT * FROM {outcome.table} LIMIT 0")
    columns = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True) if c in outcome.output_columns}
    # (the Kafka columns a SELECT * carries are kept as they are; the other $ columns are set below)
    ensure_table(
        lake, stmt.target, {c: t for c, t in columns.items() if not c.startswith("$") or c in KAFKA_COLUMNS}
    )
    system = _system_values(stmt, commit_time, run.run_id)
    extra = [f"{v} AS {quote(k)}" for k, v in system.items()]
    if "$event_time" not in columns:
        start = run.window_start or commit_time
        extra.append(f"TIMESTAMPTZ '{start.isoformat()}' AS \"$event_time\"")
    if "$source" not in columns:
        extra.append(f"'job:{stmt.name}' AS \"$source\"")
    keep = [quote(c) for c in columns if c not in system]
    lake.execute(
        f"INSERT INTO {qualified(stmt.target.schema, stmt.target.name)} BY NAME "
        f"SELECT {', '.join([*keep, *extra])} FROM {outcome.table} WHERE {outcome.write_filter}"
    )
    _record_outcome(ctx, stmt, spec, outcome, run, commit_time)
    outcome.drop(lake.con)
    run.rows_read = outcome.rows
    run.rows_written = outcome.written
    run.rows_quarantined = outcome.quarantined
    run.rows_dropped = outcome.dropped


def _expectations(
    ctx: RunContext, stmt: CreateTransformJob, spec: QualitySpec, rows: str, what: str, run: store.RunRecord
) -> quality.Outcome:
    """The job's expectations over ``rows`` (a table with ``__hw_line``): the columns they name
    must be there, and an ABORT violation stops the job before anything is written."""
    con = ctx.lake.con
    rel = con.sql(f"SELECT * FROM {rows} LIMIT 0")
    columns = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True) if c != quality.LINE}
    check_names(stmt.name, expectation_uses(spec.expectations, stmt.pos), columns, what)
    try:
        outcome = quality.evaluate(con, rows, spec)
    except duckdb.Error as e:
        raise explain_failure(
            con, rows, columns, spec, {}, e, job=f"{stmt.name} ({stmt.pos})", source=what
        ) from None
    if outcome.aborted:
        name, line = outcome.aborted
        outcome.drop(con)
        raise JobStopped(
            f"job {stmt.name} stopped: expectation {name} (ON VIOLATION ABORT) failed for row {line} of "
            f"{what} in window {run.window_start} - {run.window_end}; nothing of this window was committed",
            hint=f"fix the job's SQL or its input, then `headwater resume {stmt.name}`: it reruns this window",
        )
    return outcome


def _record_outcome(
    ctx: RunContext,
    stmt: CreateTransformJob,
    spec: QualitySpec,
    outcome: quality.Outcome,
    run: store.RunRecord,
    commit_time: datetime,
) -> None:
    """The quarantined rows and the expectation counts of a window."""
    lake = ctx.lake
    prefix = f"job:{stmt.name}:{run.window_start.isoformat() if run.window_start else ''}:"
    if outcome.quarantined:
        shown = quality.rows_as_json(
            lake.con, outcome.table, outcome.output_columns, f"{quality.BUCKET} = 'quarantine'"
        )
        batch = quarantine.QuarantineBatch(shown[quality.LINE], shown["record"], shown["reason"], "record")
        quarantine.write(
            lake,
            [batch],
            job=stmt.name,
            run_id=run.run_id,
            at=commit_time,
            source_of=Sources((prefix,)).arrow,
            sealer=None,
        )
    store.record_expectations(lake, stmt.name, run.run_id, spec.expectations, outcome.violations)
