"""Watermarks: how far in event time each job is complete, and which rows arrive late.

An ingestion job's watermark is the largest event time it has committed minus its LATENESS
(without EVENT_TIME a row's event time is its commit time, so it is the time up to which the
job has read its source). It is computed in SQL over each batch and saved in
``system.watermarks`` in the batch's own transaction. A SYNC transformation job's watermark is
the end of the windows it has completed. A SYNC job runs window W once every SYNC job upstream
of it (directly or through other jobs) has a watermark at or past W's end; a row written for a
window that a SYNC job reading its table has already completed is counted late.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from headwater.catalog.model import Catalog, Entry
from headwater.dialect.nodes import CreateIngestJob, CreateTransformJob, TableName
from headwater.lake import Lake, qualified
from headwater.runner.context import RunContext
from headwater.state import store


def is_sync(entry: Entry) -> bool:
    stmt = entry.statement
    return isinstance(stmt, CreateIngestJob | CreateTransformJob) and stmt.sync


def sync_upstream(catalog: Catalog, entry: Entry) -> list[Entry]:
    """The SYNC jobs upstream of ``entry``, directly or through other jobs and views."""
    writers: dict[TableName, list[Entry]] = {}
    for e in [*catalog.jobs, *catalog.views]:
        if e.writes is not None:
            writers.setdefault(e.writes, []).append(e)
    seen: dict[str, Entry] = {}
    stack = list(entry.reads)
    visited: set[TableName] = set()
    while stack:
        table = stack.pop()
        if table in visited:
            continue
        visited.add(table)
        for writer in writers.get(table, []):
            if writer.name in seen or writer.name == entry.name:
                continue
            seen[writer.name] = writer
            stack.extend(writer.reads)
    return sorted((e for e in seen.values() if is_sync(e)), key=lambda e: e.name)


def sync_readers(catalog: Catalog, table: TableName) -> list[str]:
    """The SYNC transformation jobs that read ``table``."""
    return [e.name for e in catalog.of_kind("transform_job") if is_sync(e) and table in e.reads]


def late_before(ctx: RunContext, table: TableName) -> datetime | None:
    """Inside a transaction: rows of ``table`` with an event time before this are late (a SYNC
    job reading it has completed their window). None: no SYNC job reads it, or none has run."""
    readers = sync_readers(ctx.catalog, table)
    if not readers:
        return None
    done = [t for t in store.windows_done(ctx.lake, readers).values() if t is not None]
    return max(done, default=None)


def count_late(lake: Lake, table: TableName, run_id: int, before: datetime | None) -> int:
    """The rows a run wrote into ``table`` (they carry its ``$run_id``) that are late."""
    if before is None:
        return 0
    row = lake.fetchone(
        f'SELECT count(*) FROM {qualified(table.schema, table.name)} WHERE "$run_id" = ? AND "$event_time" < ?',
        [run_id, before],
    )
    return int(row[0]) if row else 0


def save_ingest(
    ctx: RunContext, stmt: CreateIngestJob, batch_max: datetime | None, commit_time: datetime, rows_read: int
) -> None:
    """Inside the batch's transaction: the job's new watermark. With EVENT_TIME it moves to the
    largest event time committed so far (``batch_max``: this batch's, NULL values left out)
    minus LATENESS; without, to this commit's time minus LATENESS. It never goes back, and
    there is none before the first rows."""
    lateness = timedelta(seconds=stmt.options.lateness.seconds)
    if stmt.options.event_time is None:
        batch_max = commit_time if rows_read else None
    if batch_max is None:
        return
    old = store.load_watermarks(ctx.lake, [stmt.name]).get(stmt.name)
    latest = batch_max if old is None or old.max_event_time is None else max(old.max_event_time, batch_max)
    if old is not None and old.max_event_time == latest:
        return
    store.save_watermark(ctx.lake, store.Watermark(stmt.name, "ingest", latest - lateness, latest))


def read_up_to(ctx: RunContext, stmt: CreateIngestJob, polled: datetime) -> None:
    """A job without EVENT_TIME that has read all its source had at ``polled``: nothing it
    commits later can have an earlier event time (its commit time), so its watermark is at
    least ``polled`` minus LATENESS in this run (it is saved with the job's next commit)."""
    if stmt.options.event_time is None:
        ctx.read_up_to[stmt.name] = polled - timedelta(seconds=stmt.options.lateness.seconds)


def watermark_of(ctx: RunContext, entry: Entry) -> datetime | None:
    """A SYNC job's watermark as its downstream jobs see it now (None: none yet)."""
    if entry.kind == "ingest_job":
        saved = store.load_watermarks(ctx.lake, [entry.name]).get(entry.name)
        mark = saved.watermark if saved is not None else None
        if mark is None:  # (no watermark before any data)
            return None
        extra = ctx.read_up_to.get(entry.name)
        return max(mark, extra) if extra is not None else mark
    return store.windows_done(ctx.lake, [entry.name]).get(entry.name)


def ready_until(ctx: RunContext, entry: Entry) -> tuple[datetime | None, str | None]:
    """How far a SYNC job may run: the lowest watermark of the SYNC jobs upstream of it (the
    wall clock when there are none), and, when it may not run at all, what it waits for."""
    upstream = sync_upstream(ctx.catalog, entry)
    if not upstream:
        return store.utcnow(), None
    marks = []
    for up in upstream:
        mark = watermark_of(ctx, up)
        if mark is None:
            what = "its first rows" if up.kind == "ingest_job" else "its first window"
            return None, f"waiting for a watermark of SYNC job {up.name} ({what})"
        marks.append(mark)
    return min(marks), None
