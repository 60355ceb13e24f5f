"""SYNC transformation jobs: windows of ``$event_time``, run once every SYNC job upstream has
completed them.

A SYNC job runs window W only when the watermark of every SYNC job upstream of it (directly or
transitively) is at or past W's end (``runner.watermarks``); with none upstream, when W has
closed by the wall clock. So a join of two streams sees both sides of a window complete, and a
window never runs early, not even with ``run --once``. Windows that hold no rows complete as the
watermarks pass them: the job's own watermark (the end of the windows it has completed) moves on
over them, and its downstream SYNC jobs with it. A row that arrives later for a completed
window is written to its table and counted late there (``rows_late``); it is never read by the
window again unless the window is replayed.

A window is run provisionally (``run --once`` only), and replaced later, when an input holds
rows of a provisional window upstream, as for other jobs (``runner.provisional``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from headwater.catalog.model import Entry
from headwater.dialect.nodes import CreateTransformJob, TableName
from headwater.observe.events import JobSkipped
from headwater.runner import watermarks
from headwater.runner.context import RunContext
from headwater.runner.ingest import parse_timestamp
from headwater.runner.transform import (
    WaitingForData,
    _changed_since,
    _run_window,
    lake_inputs,
    next_data_time,
)
from headwater.runner.windows import floor_window
from headwater.state import store

EVENT = "$event_time"


def run_sync(ctx: RunContext, entry: Entry) -> int:
    """Run every window the upstream watermarks have passed, in order. Returns the rows written."""
    stmt: CreateTransformJob = entry.statement  # type: ignore[assignment]
    seconds = stmt.options.run_interval.seconds
    interval = timedelta(seconds=seconds)
    tables = lake_inputs(ctx, entry)
    ready, waiting = watermarks.ready_until(ctx, entry)
    state = store.load_job_state(ctx.lake, stmt.name)
    start = state.next_window
    if start is None:
        start = _first_window(ctx, stmt, tables, ready)
        if start is None:
            if waiting:
                ctx.emit(JobSkipped(stmt.name, waiting))
            return 0
        state.next_window = start
        with ctx.lake.transaction():
            store.save_job_state(ctx.lake, state)
            store.save_watermark(ctx.lake, store.Watermark(stmt.name, "transform", start))
    if ready is None:
        ctx.emit(JobSkipped(stmt.name, waiting or "waiting for the watermarks upstream"))
        return 0
    provisional = store.load_provisional(ctx.lake, stmt.name)
    final = store.final_until(ctx.lake, [str(t) for t in tables]) is None
    written = 0
    while True:
        nxt = next_data_time(ctx, tables, start, EVENT)
        redo = min((w for w in provisional if w >= start), default=None)
        if redo is not None and (nxt is None or redo < nxt):
            nxt = redo
        if nxt is None:
            break
        if nxt >= start + interval:
            start = floor_window(nxt, seconds)  # (the windows between hold no rows)
        end = start + interval
        if end > ready:
            break  # a SYNC job upstream has not completed this window yet
        if not final and not ctx.drain:
            return written
        replaces = provisional.pop(start, None)
        if replaces is not None and not _changed_since(ctx, tables, replaces.commit_time):
            if final:  # its inputs are as the provisional run read them: its output stands
                with ctx.lake.transaction():
                    store.promote_provisional(ctx.lake, replaces)
                    _save_progress(ctx, stmt.name, end)
            start = end
            continue
        try:
            written += _run_window(ctx, stmt, tables, start, end, final, replaces)
        except WaitingForData as e:
            ctx.emit(JobSkipped(stmt.name, str(e)))
            return written
        start = end
        if ctx.stop.is_set():
            return written
    if final:
        # The windows up to the watermarks hold no rows: they are complete as well.
        upto = floor_window(ready, seconds)
        pending = min(provisional, default=None)
        if pending is not None:
            upto = min(upto, pending)
        current = store.load_job_state(ctx.lake, stmt.name).next_window
        if current is not None and upto > current:
            with ctx.lake.transaction():
                _save_progress(ctx, stmt.name, upto)
    return written


def _save_progress(ctx: RunContext, job: str, upto: datetime) -> None:
    state = store.load_job_state(ctx.lake, job)
    state.next_window = upto
    store.save_job_state(ctx.lake, state)
    store.save_watermark(ctx.lake, store.Watermark(job, "transform", upto))


def _first_window(
    ctx: RunContext, stmt: CreateTransformJob, tables: list[TableName], ready: datetime | None
) -> datetime | None:
    """START_FROM = NOW: the window of the job's first run; a timestamp: its window; BEGINNING:
    the window of the earliest event time in the inputs once the upstream watermarks exist (so
    that rows of either side of a join that arrive first do not fix it alone)."""
    seconds = stmt.options.run_interval.seconds
    start = stmt.options.start_from
    if start is not None and start.kind == "NOW":
        return floor_window(store.utcnow(), seconds)
    if start is not None and start.kind == "TIMESTAMP":
        return floor_window(parse_timestamp(str(start.timestamp)), seconds)
    if ready is None:
        return None
    first = next_data_time(ctx, tables, None, EVENT)
    return floor_window(first, seconds) if first else None
