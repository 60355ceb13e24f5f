"""The continuous ``run``: every source flowing at once, each job committing on its own clock.

Stream sources (Kafka) are each followed by a ``Feed`` thread that reads ahead; this loop, the
lake's only writer, commits a job's records when its COMMIT_INTERVAL is due (or a batch is
full), so a slow or unreachable source never delays another job. Every poll interval it also
runs a pass over the rest of the DAG — file sources, transformation windows and materialized
views, which see the streams' commits as they land. It keeps the lake open (attaching costs
~0.2 s) and lends it to other commands on request (``runner.lease``).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from headwater.catalog.model import Entry
from headwater.dialect import parse
from headwater.dialect.nodes import CreateIngestJob, Query
from headwater.errors import HeadwaterError, UserError
from headwater.lake import Lake
from headwater.observe.events import JobSkipped, Notice
from headwater.quality.errors import JobStopped
from headwater.runner import interactive
from headwater.runner.context import RunContext
from headwater.runner.drain import open_source
from headwater.runner.feed import BACKOFF_S, Feed
from headwater.runner.ingest import Batch, TargetSchema
from headwater.runner.lease import LeaseServer
from headwater.state import store

STOP_WAIT_S = 3.0  # on Ctrl-C: how long the readers get to close their consumers

if TYPE_CHECKING:
    from headwater.runner.loop import Runner, RunResult


def followed(entry: Entry, runner: Runner) -> bool:
    """An ingestion job whose source is a stream (not files)."""
    stmt = entry.statement
    return (
        isinstance(stmt, CreateIngestJob)
        and runner.catalog.connections[stmt.source.connection].kind != "FILES"
    )


class Stream:
    def __init__(
        self, runner: Runner, result: RunResult, state_dir: Path, max_passes: int | None = None
    ) -> None:
        self.runner, self.result, self.state_dir = runner, result, state_dir
        self.max_passes = max_passes
        self.settings = runner.settings
        self.wake = runner.wake
        self.entries = {e.name: e for e in runner.catalog.jobs if followed(e, runner)}
        self.feeds: dict[str, Feed] = {}
        self.schemas: dict[str, TargetSchema] = {}
        self.last_commit: dict[str, float] = {}
        self.retry_at: dict[str, float] = {}
        self.retries: dict[str, int] = {}
        self.reported: dict[str, tuple[str, str | None]] = {}  # job -> (connection, error) saved
        self.recheck = True  # read the jobs' states (paused, stopped) at the next pass
        self._gate = threading.Lock()  # held while the lake is not open (start, lent, closed)
        self._gate.acquire()
        self.lake: Lake | None = None
        self.lent = False

    def run(self) -> None:
        runner = self.runner
        # Listening first: a command that wants the lake meanwhile waits for it to be lent.
        server = LeaseServer(self.state_dir, self.wake, self.live, self.query)
        try:
            lake = runner.open_lake()
            self.lake = lake
            self._gate.release()  # (queries may be answered from now on)
            try:
                runner._deploy(lake)
                self.entries = {e.name: e for e in runner.catalog.jobs if followed(e, runner)}
                ctx = RunContext(
                    lake,
                    runner.catalog,
                    runner.project_dir,
                    self.settings,
                    runner.console,
                    drain=False,
                    stop=runner.stop,
                )
                self._loop(lake, ctx, server)
            finally:
                for feed in self.feeds.values():
                    feed.stop.set()
                deadline = time.monotonic() + STOP_WAIT_S
                for feed in self.feeds.values():
                    feed.close(max(0.0, deadline - time.monotonic()))
                if not self.lent:  # (a query being answered finishes first)
                    self._gate.acquire(timeout=STOP_WAIT_S)
                lake.close()
        finally:
            server.close()

    def _loop(self, lake: Lake, ctx: RunContext, server: LeaseServer) -> None:
        runner, stop = self.runner, self.runner.stop
        poll = self.settings.run.poll_interval_seconds
        next_pass = 0.0
        maintained = time.monotonic()
        while not stop.is_set():
            self.wake.clear()
            if time.monotonic() >= next_pass:
                if self.recheck:  # (job states change only through the run or a borrower)
                    self._sync_feeds(ctx)
                    self.recheck = False
                runner._pass(lake, False, self.result, skip=frozenset(self.entries), ctx=ctx)
                self._report(lake)
                self.result.passes += 1
                if self.max_passes and self.result.passes >= self.max_passes:
                    return
                next_pass = time.monotonic() + poll
            for name, feed in list(self.feeds.items()):
                if stop.is_set():
                    break
                if feed.marks is not None:
                    self._save_marks(lake, name, feed)
                if self._due(name, feed):
                    self._commit(ctx, self.entries[name], feed)
            if time.monotonic() - maintained >= self.settings.run.maintenance_interval_seconds:
                runner.maintain(lake)
                maintained = time.monotonic()
            if server.wanted:
                if not server.hand_over(self._release, lake.reacquire, stop):
                    return
                self.lent = False
                self._gate.release()
                ctx.forget()  # what a borrower may have changed: expectations, tables, pauses
                runner.refresh_options(lake)  # (and options: ALTER JOB ... SET)
                ctx.catalog = runner.catalog
                self.entries = {e.name: e for e in runner.catalog.jobs if followed(e, runner)}
                self.schemas.clear()
                self.recheck = True
            wait = min([next_pass, *self._next_due()]) - time.monotonic()
            self.wake.wait(min(max(wait, 0.005), poll))

    # -- lending ----------------------------------------------------------------------------
    def _release(self) -> None:
        assert self.lake is not None
        self._gate.acquire()  # no query is being answered while the lake is lent
        self.lent = True
        self.lake.release()

    def query(self, sql: str) -> pa.Table:
        """Answer a read-only query from another command, on a connection of its own: it
        reads the latest commit alongside the next one (``runner.lease``)."""
        statements = parse(sql)
        for stmt in statements:
            if not isinstance(stmt, Query) or interactive.check_query(stmt, allow_writes=False):
                raise UserError("only a query that reads can be answered by a running `headwater run`")
        with self._gate:
            assert self.lake is not None
            reader = self.lake.cursor()
            try:
                table = pa.table({})
                for stmt in statements:
                    assert isinstance(stmt, Query)
                    table = interactive.run_query(reader, stmt, writes=False)
                return table
            finally:
                reader.close()

    # -- feeds ------------------------------------------------------------------------------
    def _sync_feeds(self, ctx: RunContext) -> None:
        """A feed for each stream job that may run; paused and stopped jobs have none."""
        lake = ctx.lake
        for name, entry in self.entries.items():
            state = store.load_job_state(lake, name)
            if state.paused or state.failed:
                feed = self.feeds.pop(name, None)
                if feed is not None:
                    feed.close()
                    self.schemas.pop(name, None)
                if state.paused and self.reported.get(name, ("", None))[0] != "paused":
                    self.runner.console.emit(JobSkipped(name, "paused (RESUME JOB to continue)"))
                    store_status(lake, name, entry, "paused")
                    self.reported[name] = ("paused", None)
                continue
            if name not in self.feeds:
                stmt = entry.statement
                assert isinstance(stmt, CreateIngestJob)
                feed = Feed(
                    name,
                    lambda stmt=stmt: open_source(ctx, stmt),  # type: ignore[misc]
                    store.load_offsets(lake, name),
                    self.settings.run.batch_bytes,
                    self.wake,
                    stmt.options.start_from,
                )
                self.feeds[name] = feed
                self.reported.pop(name, None)
                feed.start()

    def _save_marks(self, lake: Lake, name: str, feed: Feed) -> None:
        assert feed.marks is not None
        with lake.transaction():
            store.save_offsets(lake, name, feed.marks, store.utcnow())
        feed.marks_saved()

    def _interval(self, name: str) -> float:
        stmt = self.entries[name].statement
        assert isinstance(stmt, CreateIngestJob)
        return float(max(stmt.options.commit_interval.seconds, 0))

    def _due(self, name: str, feed: Feed) -> bool:
        now = time.monotonic()
        if not feed.ready() or now < self.retry_at.get(name, 0.0):
            return False
        if feed.pending() >= self.settings.run.batch_bytes:
            return True
        return now - self.last_commit.get(name, 0.0) >= self._interval(name)

    def _next_due(self) -> list[float]:
        return [
            max(self.last_commit.get(name, 0.0) + self._interval(name), self.retry_at.get(name, 0.0))
            for name, feed in self.feeds.items()
            if feed.ready()
        ]

    def _commit(self, ctx: RunContext, entry: Entry, feed: Feed) -> None:
        name = entry.name
        source = feed.source
        chunks = feed.take()
        if not chunks:
            return
        # Offsets skipped (ON_RETENTION_GAP = SKIP) before what was taken: recorded by the
        # commit whose positions go past them (those after it stay for a later commit).
        found = getattr(source, "gaps", None)
        gaps = list(found) if found else None
        before = list(gaps or [])
        self.last_commit[name] = time.monotonic()
        stmt = entry.statement
        assert isinstance(stmt, CreateIngestJob)
        try:
            schema = self.schemas.get(name) or TargetSchema.of(ctx, stmt)
            batch = Batch(ctx, entry, schema)
            for chunk in chunks:
                batch.add(chunk)
            batch.progress = feed.projected(chunks)
            self.result.rows_written += batch.commit(gaps=gaps)
        except (JobStopped, HeadwaterError, UserError, duckdb.Error) as caught:
            feed.done(None)
            self.schemas.pop(name, None)
            attempt = self.retries.get(name, 0)
            self.retries[name] = attempt + 1
            self.retry_at[name] = time.monotonic() + BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
            self.runner.job_failed(ctx.lake, entry, name, caught, self.result)
            self.recheck = True  # (an ABORT stops the job)
            self.reported[name] = ("failed", str(caught))
            return
        except BaseException:
            feed.done(None)
            raise
        if found is not None and gaps is not None:
            for gap in [g for g in before if g not in gaps]:  # recorded: commit took them out
                found.remove(gap)
        self.schemas[name] = schema
        self.retries.pop(name, None)
        self.reported[name] = (feed.connection(), None)
        feed.done(batch.positions, chunks)

    # -- status -----------------------------------------------------------------------------
    def _report(self, lake: Lake) -> None:
        """Save what changed in a feed's connection (a broker went away, came back; a source
        that cannot be opened) without waiting for a commit."""
        for name, feed in self.feeds.items():
            state = (feed.connection(), str(feed.error) if feed.error else None)
            if self.reported.get(name) == state:
                continue
            entry = self.entries[name]
            if feed.error is not None and state[1] != (self.reported.get(name) or ("", None))[1]:
                wait = BACKOFF_S[min(max(feed.failures - 1, 0), len(BACKOFF_S) - 1)]
                self.runner.console.emit(Notice(f"job {name}: {feed.error} (trying again in {wait:g} s)"))
            progress = feed.lag()
            target = str(entry.writes)
            with lake.transaction():
                store.save_progress(lake, name, progress)
                if feed.error is not None:
                    store.set_job_status(lake, name, "ingest", target, "failed", error=feed.error.message)
                elif (self.reported.get(name) or ("", None))[0] in ("failed", "retrying", "paused"):
                    store.set_job_status(lake, name, "ingest", target, "running")
            self.reported[name] = state

    def live(self) -> dict[str, Any]:
        """For ``headwater status`` while the run goes on (``runner.lease``)."""
        jobs: dict[str, Any] = {}
        for name, feed in list(self.feeds.items()):
            progress = feed.lag()
            jobs[name] = {
                "connection": feed.connection(),
                "error": str(feed.error) if feed.error else None,
                "partitions": {
                    p: {
                        "committed": feed.committed.get(p, (None, None))[0],
                        "end": got.end,
                        "behind": got.behind,
                        "seconds_behind": got.seconds_behind,
                    }
                    for p, got in progress.items()
                },
            }
        return {"pid": os.getpid(), "jobs": jobs}


def store_status(lake: Lake, name: str, entry: Entry, status: str, error: str | None = None) -> None:
    with lake.transaction():
        store.set_job_status(lake, name, "ingest", str(entry.writes), status, error=error)
