"""Reading and writing pipeline state: offsets, job progress, run records, commit clocks.

Every writer here is meant to be called inside a ``Lake.transaction()`` together with the
rows the state describes, so state and data commit (or vanish) together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from headwater.errors import JobFailed
from headwater.lake import INTERNAL_SCHEMA, LAKE, SYSTEM_SCHEMA, Lake
from headwater.lake.latest import JOBS, OFFSETS, WATERMARKS

SYS = f"{LAKE}.{SYSTEM_SCHEMA}"
INT = f"{LAKE}.{INTERNAL_SCHEMA}"
EPSILON = timedelta(microseconds=1)


class AccountingError(JobFailed):
    """rows_read differs from what was written, deduplicated, dropped and quarantined: a bug.
    The batch is not committed, so nothing is lost; the job fails loudly."""


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- offsets ---------------------------------------------------------------------------------
def load_offsets(lake: Lake, job: str) -> dict[str, tuple[int, int]]:
    rows = lake.fetchall(f'SELECT "partition", position, line FROM {SYS}.offsets WHERE job = ?', [job])
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


@dataclass
class Progress:
    """A stream partition's state beside its position: its end offset when last asked, the
    records after the position and their age (seconds), and the connection's state."""

    end: int | None = None
    behind: int | None = None
    seconds_behind: float | None = None
    connection: str | None = None


OFFSET_COLUMNS = OFFSETS.columns


def save_offsets(
    lake: Lake,
    job: str,
    positions: dict[str, tuple[int, int]],
    at: datetime,
    progress: dict[str, Progress] | None = None,
) -> None:
    """The job's new positions (and, for streams, each partition's ``Progress``)."""
    if not positions:
        return
    parts = list(positions)
    values = []  # (system.offsets shows each partition's newest row: nothing to read or delete)
    for p in parts:
        got = (progress or {}).get(p) or Progress()
        values.append(
            (
                job,
                p,
                positions[p][0],
                positions[p][1],
                at,
                got.end,
                got.behind,
                got.seconds_behind,
                got.connection,
            )
        )
    lake.con.executemany(
        f"INSERT INTO {OFFSETS.log_table} ({OFFSET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values
    )


def save_progress(lake: Lake, job: str, progress: dict[str, Progress]) -> None:
    """Only the ``Progress`` of partitions whose position did not move (a broker went away...):
    a copy of each one's newest row with it."""
    for p, got in progress.items():
        lake.execute(
            f'INSERT INTO {OFFSETS.log_table} SELECT job, "partition", position, line, committed_at, '
            f'?, ?, ?, ? FROM {OFFSETS.view} WHERE job = ? AND "partition" = ?',
            [got.end, got.behind, got.seconds_behind, got.connection, job, p],
        )


@dataclass(frozen=True)
class Gap:
    """Offsets of a partition that its source deleted before the job read them (a Kafka topic's
    retention), which the job accepted to go past (``ON_RETENTION_GAP = SKIP``)."""

    partition: str  # as in system.offsets
    first: int
    last: int


def record_gaps(
    lake: Lake,
    job: str,
    gaps: list[Gap],
    positions: dict[str, tuple[int, int]],
    run_id: int,
    at: datetime,
) -> list[Gap]:
    """Record, with the batch that commits ``positions``, the gaps those positions move past
    (a gap is recorded if and only if the job's position goes past it). Returns them."""
    past = [g for g in gaps if g.partition in positions and positions[g.partition][0] > g.last]
    if past:
        lake.con.executemany(
            f"INSERT INTO {SYS}.gaps VALUES (?, ?, ?, ?, ?, ?)",
            [(job, g.partition, g.first, g.last, run_id, at) for g in past],
        )
    return past


def clear_job(lake: Lake, job: str) -> None:
    lake.execute(f"DELETE FROM {OFFSETS.log_table} WHERE job = ?", [job])
    lake.execute(f"DELETE FROM {INT}.job_state WHERE job = ?", [job])
    lake.execute(f"DELETE FROM {JOBS.log_table} WHERE name = ?", [job])
    lake.execute(f"DELETE FROM {INT}.job_overrides WHERE job = ?", [job])
    lake.execute(f"DELETE FROM {INT}.dedupe WHERE job = ?", [job])
    lake.execute(f"DELETE FROM {INT}.provisional WHERE job = ?", [job])
    lake.execute(f"DELETE FROM {WATERMARKS.log_table} WHERE job = ?", [job])


# -- job state -------------------------------------------------------------------------------
@dataclass
class JobState:
    job: str
    next_window: datetime | None = None
    paused: bool = False
    failed: bool = False
    error: str | None = None


def load_job_state(lake: Lake, job: str) -> JobState:
    row = lake.fetchone(
        f"SELECT next_window, paused, failed, error FROM {INT}.job_state WHERE job = ?", [job]
    )
    if row is None:
        return JobState(job)
    return JobState(job, row[0], bool(row[1]), bool(row[2]), row[3])


def save_job_state(lake: Lake, state: JobState) -> None:
    lake.execute(f"DELETE FROM {INT}.job_state WHERE job = ?", [state.job])
    lake.execute(
        f"INSERT INTO {INT}.job_state VALUES (?, ?, ?, ?, ?, ?)",
        [state.job, state.next_window, state.paused, state.failed, state.error, utcnow()],
    )


# -- watermarks -----------------------------------------------------------------------------
@dataclass
class Watermark:
    job: str
    kind: str  # ingest | transform
    watermark: datetime | None
    max_event_time: datetime | None = None


def load_watermarks(lake: Lake, jobs: list[str]) -> dict[str, Watermark]:
    rows = lake.fetchall(
        f"SELECT job, kind, watermark, max_event_time FROM {SYS}.watermarks WHERE list_contains(?, job)",
        [jobs],
    )
    return {r[0]: Watermark(r[0], r[1], r[2], r[3]) for r in rows}


def save_watermark(lake: Lake, mark: Watermark) -> None:
    lake.execute(  # (system.watermarks shows each job's newest row)
        f"INSERT INTO {WATERMARKS.log_table} VALUES (?, ?, ?, ?, ?)",
        [mark.job, mark.kind, mark.watermark, mark.max_event_time, utcnow()],
    )


def windows_done(lake: Lake, jobs: list[str]) -> dict[str, datetime | None]:
    """Transformation jobs' progress: every window before this time has run for good."""
    rows = lake.fetchall(f"SELECT job, next_window FROM {INT}.job_state WHERE list_contains(?, job)", [jobs])
    return {r[0]: r[1] for r in rows}


# -- run records -----------------------------------------------------------------------------
@dataclass
class RunRecord:
    job: str
    run_id: int
    started: datetime
    window_start: datetime | None = None
    window_end: datetime | None = None
    status: str = "succeeded"
    rows_read: int = 0
    rows_written: int = 0
    rows_deduplicated: int = 0
    rows_dropped: int = 0
    rows_quarantined: int = 0
    rows_late: int = 0
    error: str | None = None
    finished: datetime | None = field(default=None)

    def check_accounting(self) -> None:
        """rows_read = written + deduplicated + dropped + quarantined, or this is a bug."""
        accounted = self.rows_written + self.rows_deduplicated + self.rows_dropped + self.rows_quarantined
        if self.rows_read != accounted:
            raise AccountingError(
                f"accounting mismatch in job {self.job} run {self.run_id}: read {self.rows_read}, "
                f"accounted {accounted} (written {self.rows_written}, deduplicated "
                f"{self.rows_deduplicated}, dropped {self.rows_dropped}, quarantined {self.rows_quarantined}); "
                "nothing of this batch was committed. This is a bug in Headwater: please report it"
            )


def next_run_id(lake: Lake) -> int:
    row = lake.fetchone(f"SELECT coalesce(max(run_id), 0) FROM {SYS}.runs")
    return int(row[0]) + 1 if row else 1


def record_run(lake: Lake, run: RunRecord) -> None:
    run.finished = run.finished or utcnow()
    lake.execute(
        f"INSERT INTO {SYS}.runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.job,
            run.run_id,
            run.window_start,
            run.window_end,
            run.started,
            run.finished,
            run.status,
            run.rows_read,
            run.rows_written,
            run.rows_deduplicated,
            run.rows_dropped,
            run.rows_quarantined,
            run.rows_late,
            run.error,
        ],
    )


def record_expectations(
    lake: Lake, job: str, run_id: int, expectations: list[Any], violations: dict[str, int]
) -> None:
    rows = [(job, e.name, e.action, run_id, violations.get(e.name, 0)) for e in expectations]
    if rows:
        lake.con.executemany(f"INSERT INTO {SYS}.expectations VALUES (?, ?, ?, ?, ?)", rows)


def set_job_status(
    lake: Lake,
    name: str,
    kind: str,
    target: str,
    status: str,
    *,
    lag: float | None = None,
    error: str | None = None,
) -> None:
    # (system.jobs shows each job's newest row: nothing to read or delete)
    lake.execute(
        f"INSERT INTO {JOBS.log_table} VALUES (?, ?, ?, ?, ?, ?, ?)",
        [name, kind, status, target, utcnow(), lag, error],
    )


# -- commit clocks ---------------------------------------------------------------------------
def next_commit_time(lake: Lake) -> datetime:
    """The ``$commit_time`` of a commit about to be made: the clock's time, but never at or
    before an earlier commit to any table of the lake (so it never goes backwards, and two
    commits never share a time). It is never ahead of the clock by more than those steps."""
    row = lake.fetchone(f"SELECT max(last_commit) FROM {INT}.clocks")
    return commit_time_after(row[0] if row else None)


def commit_time_after(latest: datetime | None) -> datetime:
    """``next_commit_time`` when the newest clock (``max(last_commit)``) was read already."""
    t = utcnow()
    if latest is not None and latest + EPSILON > t:
        t = latest + EPSILON
    return t


def advance_clock(lake: Lake, table: str, at: datetime, read_snapshot: int | None = None) -> None:
    """Move the table's clock to ``at``, never back: the clock is the newest ``last_commit``
    of the table's rows, so this only adds a row (no read, no delete: each of those costs a
    commit milliseconds of catalog work). ``lake.maintenance`` drops the older rows.
    ``read_snapshot``: an incremental view's refresh, the snapshot it read."""
    lake.execute(
        f"INSERT INTO {INT}.clocks (table_name, last_commit, read_snapshot) VALUES (?, ?, ?)",
        [table, at, read_snapshot],
    )


# -- provisional windows ---------------------------------------------------------------------
@dataclass
class ProvisionalRun:
    """A window that ran before it was final (``run --once`` on an open window, or on rows an
    upstream job may still replace). Its output is replaced when the window runs again."""

    job: str
    run_id: int
    window_start: datetime
    window_end: datetime
    target: str
    commit_time: datetime


def load_provisional(lake: Lake, job: str) -> dict[datetime, ProvisionalRun]:
    rows = lake.fetchall(
        f"SELECT run_id, window_start, window_end, target, commit_time FROM {INT}.provisional WHERE job = ?",
        [job],
    )
    return {r[1]: ProvisionalRun(job, int(r[0]), r[1], r[2], r[3], r[4]) for r in rows}


def save_provisional(lake: Lake, run: ProvisionalRun) -> None:
    lake.execute(
        f"INSERT INTO {INT}.provisional VALUES (?, ?, ?, ?, ?, ?)",
        [run.job, run.run_id, run.window_start, run.window_end, run.target, run.commit_time],
    )


def forget_provisional(lake: Lake, run: ProvisionalRun) -> None:
    lake.execute(f"DELETE FROM {INT}.provisional WHERE job = ? AND run_id = ?", [run.job, run.run_id])
    lake.execute(
        f"UPDATE {SYS}.runs SET status = 'replaced' WHERE job = ? AND run_id = ?", [run.job, run.run_id]
    )


def promote_provisional(lake: Lake, run: ProvisionalRun) -> None:
    """The window became final with no input changed since its provisional run: that run's
    output is the window's final output."""
    lake.execute(f"DELETE FROM {INT}.provisional WHERE job = ? AND run_id = ?", [run.job, run.run_id])
    lake.execute(
        f"UPDATE {SYS}.runs SET status = 'succeeded' WHERE job = ? AND run_id = ?", [run.job, run.run_id]
    )


def final_until(lake: Lake, tables: list[str]) -> datetime | None:
    """Rows of ``tables`` committed before this time are final: no provisional window wrote
    them. None when no provisional output is in any of them."""
    row = lake.fetchone(
        f"SELECT min(commit_time) FROM {INT}.provisional WHERE list_contains(?, target)", [tables]
    )
    return row[0] if row else None
