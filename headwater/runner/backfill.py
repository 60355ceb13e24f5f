"""``headwater replay JOB --from TS [--to TS]``: re-run a transformation job's windows with its
current SQL, and what depends on it, in one lake transaction.

The windows of the job that start in ``[from, to)`` (``from`` rounded down to its window; ``to``
by default the job's next window) are run again. Their old output is found by ``$run_id``
(every row a window writes carries its run's id, and ``system.runs`` names the window of each
run): it is deleted and the new output inserted in the same transaction, so a reader sees the
old rows or the new ones, never both and never neither. The old runs stay in ``system.runs``
with ``status = 'replaced'``; their quarantined rows and expectation counts are removed.

The new rows are committed now, so they carry a new ``$commit_time`` (it never goes backwards).
Each transformation job downstream is replayed from the first of its windows that read a
replaced row (the smallest ``$commit_time`` among them; for a SYNC job, whose windows are of
event time, the smallest ``$event_time``), recursively, and the materialized
views downstream are recomputed. All of it is one transaction: a failure anywhere changes
nothing. Then, as ``run --once`` would, the jobs downstream run the windows the new rows fall
in (the current one provisionally), and the views are brought up to date.

A MERGE job's windows build on one another (each updates what the previous ones wrote), so
its output for some windows cannot be taken out: replaying a MERGE job, or a job with one
downstream, is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
from sqlglot import exp

from headwater.catalog.model import Catalog, Entry
from headwater.dialect.nodes import CreateTransformJob
from headwater.errors import HeadwaterError, UserError
from headwater.lake import LAKE, SYSTEM_SCHEMA, qualified
from headwater.observe.events import Notice
from headwater.plan.dag import DAG
from headwater.runner.context import RunContext
from headwater.runner.transform import (
    WaitingForData,
    _run_window,
    lake_inputs,
    next_data_time,
    run_transform,
)
from headwater.runner.views import refresh_view
from headwater.runner.windows import floor_window
from headwater.state import store

SYS = f"{LAKE}.{SYSTEM_SCHEMA}"


@dataclass
class Replayed:
    """What a replay did to one job."""

    job: str
    window_from: datetime
    window_to: datetime
    windows: int = 0  # windows run again
    rows_removed: int = 0  # rows of the old output deleted
    rows_written: int = 0  # (with, downstream, the windows run after the replay's commit)
    because_of: str | None = None  # the upstream job whose replay made this one replay


@dataclass
class BackfillResult:
    jobs: list[Replayed] = field(default_factory=list)
    views: list[str] = field(default_factory=list)  # materialized views recomputed


def check_replayable(catalog: Catalog, dag: DAG, name: str) -> Entry:
    """The transformation job ``name``, after checking that it and every transformation job
    downstream of it can be replayed (INSERT jobs that have run)."""
    entry = catalog.job(name)
    if entry is None:
        known = ", ".join(e.name for e in catalog.of_kind("transform_job")) or "none"
        raise UserError(f"no transformation job named {name!r} (transformation jobs: {known})")
    if entry.kind != "transform_job":
        raise UserError(
            f"job {name} is an ingestion job: replay re-runs a transformation job's windows",
            hint=f"to load records again that were quarantined, use `headwater quarantine replay {name}`",
        )
    for job in [name, *sorted(downstream(dag, name))]:
        other = catalog.job(job)
        if other is None or other.kind != "transform_job":
            continue
        stmt = other.statement
        assert isinstance(stmt, CreateTransformJob)
        if isinstance(stmt.body, exp.Merge):
            why = "" if job == name else f", downstream of {name},"
            raise UserError(
                f"job {job}{why} is a MERGE job ({stmt.pos}): its windows build on one another, so its "
                "output for some windows cannot be replaced; nothing was changed",
                hint="replay is for INSERT jobs (and INSERT jobs downstream); see docs/replay.md",
            )
    return entry


def downstream(dag: DAG, name: str) -> set[str]:
    """Every job and view that depends on ``name``, directly or not."""
    found: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        for node, ups in dag.upstream.items():
            if current in ups and node not in found:
                found.add(node)
                todo.append(node)
    return found


def parse_when(text: str, what: str) -> datetime:
    """A ``--from`` / ``--to`` timestamp (ISO 8601; without a zone it is UTC)."""
    from headwater.runner.ingest import parse_timestamp

    try:
        return parse_timestamp(text)
    except (ValueError, UserError):
        raise UserError(
            f"{what} {text!r} is not a timestamp", hint="write it as ISO 8601: 2026-01-01T00:00:00Z"
        ) from None


def replay_job(ctx: RunContext, dag: DAG, name: str, start: datetime, end: datetime | None) -> BackfillResult:
    """Replay ``name``'s windows in ``[start, end)`` and everything downstream, in one transaction."""
    entry = check_replayable(ctx.catalog, dag, name)
    if end is not None and end <= start:
        raise UserError(f"--to ({end.isoformat()}) must be after --from ({start.isoformat()})")
    result = BackfillResult()
    below = downstream(dag, name)
    # table -> the first $commit_time and the first $event_time of its replaced rows
    replaced_from: dict[str, tuple[datetime, datetime]] = {}
    with ctx.lake.transaction():
        first = _replay_one(ctx, entry, start, end, None, result)
        if first is not None:
            replaced_from[str(entry.writes)] = first
        for node in dag.sorted():
            if node not in below:
                continue
            job = ctx.catalog.job(node)
            if job is None:  # a materialized view: recomputed from its inputs' current rows
                view = next(v for v in ctx.catalog.views if v.name == node)
                if refresh_view(ctx, view) is not None:
                    result.views.append(str(view.writes))
                continue
            # (a SYNC job's windows are of $event_time: it replays from the window of the
            # earliest event among the replaced rows; another job's, of their $commit_time)
            sync = isinstance(job.statement, CreateTransformJob) and job.statement.sync
            since = [replaced_from[str(t)][1 if sync else 0] for t in job.reads if str(t) in replaced_from]
            if not since:
                continue
            by = next(r.job for r in result.jobs if str(_target(ctx, r.job)) in {str(t) for t in job.reads})
            first = _replay_one(ctx, job, min(since), None, by, result)
            if first is not None:
                replaced_from[str(job.writes)] = first
    _catch_up(ctx, dag, below, result)
    for r in result.jobs:
        why = f" (downstream of {r.because_of})" if r.because_of else ""
        ctx.emit(
            Notice(
                f"replayed {r.job}{why}, windows from {r.window_from.isoformat()} to "
                f"{r.window_to.isoformat()}: run again {r.windows}, rows removed {r.rows_removed}, "
                f"rows written {r.rows_written}"
            )
        )
    return result


def _catch_up(ctx: RunContext, dag: DAG, below: set[str], result: BackfillResult) -> None:
    """After the replay's commit: the jobs downstream process the rows it wrote (they were
    committed now, so they fall in the jobs' next windows), as ``run --once`` would, each
    window in its own transaction; then the views downstream are brought up to date."""
    for node in dag.sorted():
        if node not in below:
            continue
        job = ctx.catalog.job(node)
        if job is None:
            refresh_view(ctx, next(v for v in ctx.catalog.views if v.name == node))
            continue
        state = store.load_job_state(ctx.lake, node)
        if job.kind == "transform_job" and not (state.paused or state.failed):
            try:
                written = run_transform(ctx, job)
                for done in result.jobs:
                    if done.job == node:
                        done.rows_written += written
            except (HeadwaterError, duckdb.Error) as e:  # (the replay itself is committed)
                first = str(e).splitlines()[0]
                ctx.emit(
                    Notice(f"{node}: {first} (the replay is committed; `headwater run` tries {node} again)")
                )


def _target(ctx: RunContext, job: str) -> object:
    entry = ctx.catalog.job(job)
    return entry.writes if entry else None


def _replay_one(
    ctx: RunContext,
    entry: Entry,
    start: datetime,
    end: datetime | None,
    because_of: str | None,
    result: BackfillResult,
) -> tuple[datetime, datetime] | None:
    """Inside the replay's transaction: one job's windows. Returns the first ``$commit_time``
    and the first ``$event_time`` of the rows it took out (None when it took none out)."""
    lake = ctx.lake
    stmt = entry.statement
    assert isinstance(stmt, CreateTransformJob)
    seconds = stmt.options.run_interval.seconds
    state = store.load_job_state(lake, stmt.name)
    if state.next_window is None:
        if because_of is None:
            raise UserError(
                f"job {stmt.name} has not run yet: there is nothing to replay",
                hint="`headwater run` runs its windows for the first time",
            )
        return None
    window_from = floor_window(start, seconds)
    window_to = state.next_window
    if end is not None:
        ceiling = floor_window(end, seconds)
        window_to = min(window_to, ceiling if ceiling == end else ceiling + timedelta(seconds=seconds))
    done = Replayed(stmt.name, window_from, max(window_to, window_from), because_of=because_of)
    result.jobs.append(done)
    if window_to <= window_from:
        return None
    runs = [
        int(r[0])
        for r in lake.fetchall(
            f"SELECT run_id FROM {SYS}.runs WHERE job = ? AND status = 'succeeded' "
            "AND window_start >= ? AND window_start < ?",
            [stmt.name, window_from, window_to],
        )
    ]
    target = stmt.target
    first: tuple[datetime, datetime] | None = None
    if runs and lake.table_exists(target.schema, target.name):
        table = qualified(target.schema, target.name)
        row = lake.fetchone(
            f'SELECT min("$commit_time"), min("$event_time"), count(*) FROM {table} '
            'WHERE list_contains(?, "$run_id")',
            [runs],
        )
        if row and row[0] is not None:
            first = (row[0], row[1])
        done.rows_removed = int(row[2]) if row else 0
        lake.execute(f'DELETE FROM {table} WHERE list_contains(?, "$run_id")', [runs])
    if runs:
        for what in ("quarantine", "expectations"):
            lake.execute(
                f"DELETE FROM {SYS}.{what} WHERE job = ? AND list_contains(?, run_id)", [stmt.name, runs]
            )
        lake.execute(
            f"UPDATE {SYS}.runs SET status = 'replaced' WHERE job = ? AND list_contains(?, run_id)",
            [stmt.name, runs],
        )
    tables = lake_inputs(ctx, entry)
    interval = timedelta(seconds=seconds)
    # A SYNC job's windows hold the rows of their $event_time; another job's, of their $commit_time.
    column = "$event_time" if stmt.sync else "$commit_time"
    window = window_from
    while window < window_to:
        nxt = next_data_time(ctx, tables, window, column)
        if nxt is None or nxt >= window_to:
            break
        if nxt >= window + interval:
            window = floor_window(nxt, seconds)  # (windows without input rows are skipped)
        try:
            done.rows_written += _run_window(ctx, stmt, tables, window, window + interval, True, None)
        except WaitingForData:
            break
        done.windows += 1
        window += interval
    state.next_window = max(state.next_window, window_to)  # (running a window moved it back)
    store.save_job_state(lake, state)
    return first
