"""The run loop: passes over the DAG until interrupted (or once, with ``--once``)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import duckdb

from headwater.catalog.columns import check_job_columns
from headwater.catalog.model import Catalog, Entry
from headwater.config import Settings
from headwater.dialect.nodes import CreateIngestJob
from headwater.errors import HeadwaterError, UserError
from headwater.lake import LAKE, SYSTEM_SCHEMA, Lake
from headwater.lake.maintenance import maintain
from headwater.lake.system_tables import ensure_system_tables
from headwater.lake.tables import lake_columns
from headwater.observe.events import Console, JobFailedEvent, JobSkipped, Notice, PassFinished, PlanApplied
from headwater.plan.plan import build_dag, make_plan
from headwater.quality.diagnose import scrub
from headwater.quality.errors import JobStopped
from headwater.runner.context import RunContext
from headwater.runner.deploy import apply_plan, create_missing_tables, load_deployed
from headwater.runner.errors import AlreadyRunning, RunnerError
from headwater.runner.ingest import run_ingest
from headwater.runner.retry import DELAYS_S, Backoff, is_transient
from headwater.runner.transform import run_transform
from headwater.runner.views import refresh_view
from headwater.sources.collector import frozen
from headwater.state import store


@dataclass
class RunResult:
    passes: int = 0
    rows_written: int = 0
    failed_jobs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed_jobs


@contextlib.contextmanager
def project_lock(state_dir: Path) -> Iterator[None]:
    """One `run` per project. The OS drops the lock if the process dies, even by kill -9."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "run.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise AlreadyRunning(
                f"this project is already running (pid {holder})",
                hint="stop the other `headwater run` first (Ctrl-C), or query it with `headwater query`",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


class Runner:
    def __init__(
        self,
        catalog: Catalog,
        project_dir: Path,
        settings: Settings,
        open_lake: Callable[[], Lake],
        console: Console,
        *,
        allow_drop: bool = False,
    ) -> None:
        self.catalog = catalog
        self.files_catalog = catalog  # (self.catalog: with ALTER JOB ... SET options, once deployed)
        self.allow_drop = allow_drop
        self.project_dir = project_dir
        self.settings = settings
        self.open_lake = open_lake
        self.console = console
        self.stop = threading.Event()
        self.wake = threading.Event()  # the continuous run's loop: something to do
        self.dag = build_dag(catalog)
        self.backoff = Backoff()
        self.order = self.dag.sorted()

    def run(self, *, once: bool, state_dir: Path, max_passes: int | None = None) -> RunResult:
        result = RunResult()
        with project_lock(state_dir), self._signals(), frozen():
            if not once:
                from headwater.runner.stream import Stream

                Stream(self, result, state_dir, max_passes).run()
                return result
            deployed = False
            maintained = time.monotonic()
            while not self.stop.is_set():
                with self.open_lake() as lake:
                    if not deployed:
                        self._deploy(lake)
                        deployed = True
                    self._pass(lake, once, result)
                    if (
                        once
                        or time.monotonic() - maintained >= self.settings.run.maintenance_interval_seconds
                    ):
                        self.maintain(lake)
                        maintained = time.monotonic()
                result.passes += 1
                if once or (max_passes and result.passes >= max_passes):
                    break
                self.stop.wait(self.settings.run.poll_interval_seconds)
        return result

    def maintain(self, lake: Lake) -> None:
        lake_settings = self.settings.lake
        maintain(
            lake,
            lake_settings.snapshot_retention_hours,
            keep_all_minutes=lake_settings.snapshot_keep_all_minutes,
        )

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.stop.is_set():
                raise KeyboardInterrupt
            self.stop.set()
            self.wake.set()
            self.console.emit(Notice("stopping after the current batch (press Ctrl-C again to abort)"))

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def _deploy(self, lake: Lake) -> None:
        ensure_system_tables(lake)
        # Columns the jobs name, against the tables that exist: a misspelt name is an error
        # before the plan is applied, not at the job's next batch.
        check_job_columns(self.catalog, lake_columns(lake))
        plan = make_plan(self.catalog, load_deployed(lake))
        plan.check_drops(self.allow_drop)
        if not plan.empty:
            apply_plan(lake, self.catalog, plan)
            self.console.emit(PlanApplied(tuple(plan.explain())))
        create_missing_tables(lake, self.catalog)
        self.refresh_options(lake)

    def refresh_options(self, lake: Lake) -> None:
        """The jobs' options as their files and ``ALTER JOB ... SET`` say (``runner.control``)."""
        from headwater.runner.control import with_overrides

        self.catalog = with_overrides(lake, self.files_catalog)

    def job_failed(
        self,
        lake: Lake,
        entry: Entry | None,
        name: str,
        caught: JobStopped | HeadwaterError | UserError | duckdb.Error | OSError,
        result: RunResult,
    ) -> None:
        """A job's error: shown, and kept in ``system.jobs`` (an ABORT stops the job until
        `headwater resume`); the other jobs go on."""
        if isinstance(caught, JobStopped):
            if entry is not None:
                _mark_stopped(lake, name, caught.message)
            err: HeadwaterError = caught
        else:
            err = caught if isinstance(caught, HeadwaterError) else record_error(entry, name, caught)
        result.failed_jobs[name] = str(err)
        self.console.emit(JobFailedEvent(name, str(err)))
        kind = entry.kind if entry else "materialized_view"
        target = str(entry.writes) if entry else name
        with contextlib.suppress(Exception):
            store_status(lake, kind, name, target, "failed", error=err.message)

    def _pass(
        self,
        lake: Lake,
        once: bool,
        result: RunResult,
        skip: frozenset[str] = frozenset(),
        ctx: RunContext | None = None,
    ) -> None:
        """Every job and view in order (``skip``: the jobs a continuous run's feeds commit;
        ``ctx``: the continuous run's, which hands out the run ids). A job that fails blocks
        only what depends on it: those wait (status ``blocked``), the others run."""
        started = time.monotonic()
        if ctx is None:
            ctx = RunContext(
                lake, self.catalog, self.project_dir, self.settings, self.console, drain=once, stop=self.stop
            )
        waiting: dict[str, str] = {}  # job -> the failed job it waits for (itself, if failed)
        written = 0
        for name in self.order:
            if self.stop.is_set():
                break
            entry = self.catalog.job(name)
            ups = sorted(self.dag.upstream.get(name, set()) & set(waiting))
            if ups:
                waiting[name] = waiting[ups[0]]
                self._blocked(lake, entry, name, waiting[name])
                continue
            if name in skip:
                continue
            if self.backoff.waiting(name):
                waiting[name] = name
                continue
            try:
                written += self._attempt(lake, ctx, name, entry, once)
            except (JobStopped, HeadwaterError, UserError, duckdb.Error, OSError) as caught:
                waiting[name] = name
                if is_transient(caught) and self.backoff.failures.get(name, 0) <= len(DELAYS_S):
                    continue  # (not once: marked retrying; tried again when due)
                self.job_failed(lake, entry, name, caught, result)
        result.rows_written += written
        failed = tuple(sorted(n for n, by in waiting.items() if n == by))
        self.console.emit(PassFinished(written, failed, time.monotonic() - started))

    def _attempt(self, lake: Lake, ctx: RunContext, name: str, entry: Entry | None, once: bool) -> int:
        """Run one job; a transient error is tried again with backoff (``runner.retry``):
        here and now with ``--once``, at a later pass otherwise."""
        while True:
            try:
                written = self._run_job(lake, ctx, name, entry)
            except (HeadwaterError, duckdb.Error, OSError) as caught:
                if not is_transient(caught):
                    raise
                delay = self.backoff.failed(name)
                if delay is None:
                    raise
                message = str(caught).splitlines()[0]
                self.console.emit(Notice(f"{name}: {message} (trying again in {delay:g} s)"))
                kind = entry.kind if entry else "materialized_view"
                with contextlib.suppress(Exception):
                    store_status(
                        lake, kind, name, str(entry.writes) if entry else name, "retrying", error=message
                    )
                if not once or self.stop.wait(delay):
                    raise
                continue
            self.backoff.succeeded(name)
            return written

    def _run_job(self, lake: Lake, ctx: RunContext, name: str, entry: Entry | None) -> int:
        if entry is None:
            view = next(v for v in self.catalog.views if v.name == name)
            if refresh_view(ctx, view) is None:  # (a refresh commits its status: running)
                _clear_failure(lake, view.kind, name, name)
            return 0
        state = store.load_job_state(lake, name)
        if state.paused:
            self.console.emit(JobSkipped(name, "paused (RESUME JOB to continue)"))
            store_status(lake, entry.kind, name, str(entry.writes), "paused")
            return 0
        if state.failed:
            raise JobStopped(
                state.error or f"job {name} was stopped",
                hint=f"fix the cause, then `headwater resume {name}`: it continues from the same position",
            )
        written = run_ingest(ctx, entry) if entry.kind == "ingest_job" else run_transform(ctx, entry)
        _clear_failure(lake, entry.kind, name, str(entry.writes))
        return written

    def _blocked(self, lake: Lake, entry: Entry | None, name: str, by: str) -> None:
        """A job or view whose upstream failed waits for it; ``status`` and ``plan`` say so."""
        self.console.emit(JobSkipped(name, f"blocked by {by}, which failed"))
        why = f"blocked by {by}: waits until {by} succeeds"
        row = lake.fetchone(f"SELECT status, error FROM {LAKE}.{SYSTEM_SCHEMA}.jobs WHERE name = ?", [name])
        if row is None or tuple(row) != ("blocked", why):
            kind = entry.kind if entry else "materialized_view"
            store_status(lake, kind, name, str(entry.writes) if entry else name, "blocked", error=why)


def _clear_failure(lake: Lake, kind: str, name: str, target: str) -> None:
    """A job that got through a pass without an error is no longer failed, even when it had
    nothing to commit (a committed batch or window already sets it running)."""
    row = lake.fetchone(f"SELECT status FROM {LAKE}.{SYSTEM_SCHEMA}.jobs WHERE name = ?", [name])
    if row is not None and row[0] in ("failed", "blocked", "retrying"):
        store_status(lake, kind, name, target, "idle")


def record_error(entry: Entry | None, name: str, error: duckdb.Error | OSError) -> RunnerError:
    """A DuckDB error while a job processed its records fails that job (the others go on),
    without the record's values when the job protects columns."""
    stmt = entry.statement if entry else None
    private = isinstance(stmt, CreateIngestJob) and bool(
        stmt.options.column_transformations or stmt.options.exclude_columns
    )
    where = f" ({stmt.pos})" if stmt else ""
    return RunnerError(
        f"job {name}{where} failed: {scrub(str(error), private)}",
        hint=f"nothing of the failed batch was committed; fix the cause, then run again (`headwater status` shows {name}'s error)",
    )


def _mark_stopped(lake: Lake, name: str, message: str) -> None:
    """Stopped jobs stay stopped across runs until `headwater resume`."""
    with lake.transaction():
        state = store.load_job_state(lake, name)
        state.failed, state.error = True, message
        store.save_job_state(lake, state)


def store_status(
    lake: Lake, kind: str, name: str, target: str, status: str, error: str | None = None
) -> None:
    with lake.transaction():
        store.set_job_status(lake, name, kind.replace("_job", ""), target, status, error=error)
