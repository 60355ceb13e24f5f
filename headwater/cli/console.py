"""The terminal side of the runner's events, and of errors.

Data (query results, ``status --format json``) goes to stdout; progress, notices and errors go
to stderr, so that ``headwater query ... --format json | jq`` gets only the document.
On a terminal ``run`` shows a live table of its jobs; elsewhere (a pipe, a log file, a service
manager) it writes one line per event instead.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from rich.console import Console as RichConsole
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from headwater.cli.render import format_seconds, plan_line, plural
from headwater.observe.events import (
    BatchCommitted,
    Event,
    JobFailedEvent,
    JobSkipped,
    Notice,
    PassFinished,
    PlanApplied,
    ViewRefreshed,
    WindowCommitted,
)

# Wide enough that a table written to a pipe or a file is never folded.
_PIPE_WIDTH = 4096


def stdout_console() -> RichConsole:
    console = RichConsole(highlight=False)
    if not console.is_terminal:
        console = RichConsole(highlight=False, width=_PIPE_WIDTH)
    return console


def stderr_console() -> RichConsole:
    console = RichConsole(stderr=True, highlight=False)
    if not console.is_terminal:
        console = RichConsole(stderr=True, highlight=False, width=_PIPE_WIDTH)
    return console


@dataclass
class JobProgress:
    """What the terminal knows about one job or view during a run."""

    kind: str = "ingest"
    rows_read: int = 0
    rows_written: int = 0
    busy_seconds: float = 0.0
    batches: int = 0
    windows: int = 0
    last_window: str = ""
    state: str = "waiting"
    detail: str = ""

    @property
    def rate(self) -> float:
        return self.rows_read / self.busy_seconds if self.busy_seconds > 0 else 0.0


class TerminalConsole:
    """A ``Console`` for ``headwater run``: use it as a context manager around the run."""

    def __init__(self, err: RichConsole, *, live: bool | None = None) -> None:
        self.err = err
        self.use_live = err.is_terminal if live is None else live
        self.jobs: dict[str, JobProgress] = {}
        self.passes = 0
        self.rows_written = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._skips: dict[str, str] = {}

    # -- lifetime -----------------------------------------------------------------------------
    def __enter__(self) -> TerminalConsole:
        self.started = time.monotonic()
        if self.use_live:
            self._live = Live(
                get_renderable=self.render, console=self.err, refresh_per_second=4, transient=False
            )
            self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def expect(self, jobs: list[tuple[str, str]]) -> None:
        """Show these jobs and views, as (name, kind), before their first event."""
        with self._lock:
            for name, kind in jobs:
                self._job(name, kind)

    # -- events -------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        with self._lock:
            self._record(event)
        line = self._line(event)
        if line is not None:
            self.err.print(line)
        if self._live is not None:
            self._live.refresh()

    def _record(self, event: Event) -> None:
        if isinstance(event, BatchCommitted):
            job = self._job(event.job, "ingest")
            job.rows_read += event.rows_read
            job.rows_written += event.rows_written
            job.busy_seconds += event.seconds
            job.batches += 1
            job.state, job.detail = "ingesting", ""
        elif isinstance(event, WindowCommitted):
            job = self._job(event.job, "transform")
            job.rows_read += event.rows_read
            job.rows_written += event.rows_written
            job.windows += 1
            job.last_window = window_text(event.window_start, event.window_end, short=True)
            job.state, job.detail = "running", ""
        elif isinstance(event, ViewRefreshed):
            job = self._job(event.view, "view")
            job.rows_written = event.rows
            job.state, job.detail = "refreshed", ""
        elif isinstance(event, JobFailedEvent):
            job = self._job(event.job)
            job.state, job.detail = "failed", event.error.splitlines()[0] if event.error else ""
        elif isinstance(event, JobSkipped):
            job = self._job(event.job)
            job.state, job.detail = "skipped", event.reason
        elif isinstance(event, PassFinished):
            self.passes += 1
            self.rows_written += event.rows_written
            for job in self.jobs.values():
                if job.state in ("waiting", "ingesting", "running", "refreshed"):
                    job.state = "idle"

    def _job(self, name: str, kind: str | None = None) -> JobProgress:
        job = self.jobs.get(name)
        if job is None:
            job = self.jobs[name] = JobProgress(kind=kind or "job")
        elif kind:
            job.kind = kind
        return job

    def _line(self, event: Event) -> RenderableType | None:
        """What to print for an event: failures and notices always, progress only without live."""
        if isinstance(event, JobFailedEvent):
            return Text.assemble(
                ("✗ ", "bold red"), (f"{event.job} failed: ", "bold red"), (event.error, "red")
            )
        if isinstance(event, Notice):
            return Text(event.message, style="yellow")
        if isinstance(event, PlanApplied):
            lines = Text("applied plan:\n", style="bold")
            for line in event.lines:
                lines.append("  ").append_text(plan_line(line)).append("\n")
            lines.rstrip()
            return lines
        if isinstance(event, JobSkipped):
            if self._skips.get(event.job) == event.reason:
                return None
            self._skips[event.job] = event.reason
            return Text(f"{event.job}: skipped, {event.reason}", style="dim")
        if self.use_live:
            return None
        return self._progress_line(event)

    def _progress_line(self, event: Event) -> RenderableType | None:
        if isinstance(event, BatchCommitted):
            rate = rate_text(event.rows_read, event.seconds)
            return Text(
                f"{event.job}: committed {plural(event.rows_written, 'row')} "
                f"({plural(event.files, event.unit)}, {_bytes(event.bytes_read)}) "
                f"in {format_seconds(event.seconds)}" + (f", {rate} rows/s" if rate else "")
            )
        if isinstance(event, WindowCommitted):
            return Text(
                f"{event.job}: window {window_text(event.window_start, event.window_end)} "
                f"{'committed provisionally (not final yet)' if event.provisional else 'committed'}, "
                f"{plural(event.rows_read, 'row')} in, {plural(event.rows_written, 'row')} out"
            )
        if isinstance(event, ViewRefreshed):
            if event.how == "incremental":
                return Text(
                    f"{event.view}: refreshed from its inputs' changes, {plural(event.rows, 'row')} written"
                )
            why = event.how.removeprefix("full recompute").removeprefix(": ")
            done = f"recomputed ({why})" if why else "refreshed"
            return Text(f"{event.view}: {done}, {plural(event.rows, 'row')}")
        if isinstance(event, PassFinished) and (event.rows_written or event.failed_jobs):
            text = Text(
                f"pass {self.passes} finished: {plural(event.rows_written, 'row')} written "
                f"in {format_seconds(event.seconds)}"
            )
            if event.failed_jobs:
                text.append(f", failed: {', '.join(event.failed_jobs)}", style="red")
            return text
        return None

    # -- the live table -----------------------------------------------------------------------
    def render(self) -> RenderableType:
        with self._lock:
            table = Table(box=None, header_style="bold cyan", pad_edge=False)
            table.add_column("job")
            table.add_column("kind", style="dim")
            table.add_column("rows written", justify="right")
            table.add_column("rows/s", justify="right")
            table.add_column("windows", justify="right")
            table.add_column("state")
            for name, job in self.jobs.items():
                style = {"failed": "bold red", "skipped": "yellow", "idle": "green"}.get(job.state, "cyan")
                state = Text(job.state, style=style)
                if job.detail:
                    state.append(f" ({job.detail})", style="dim" if job.state != "failed" else "red")
                table.add_row(
                    name,
                    job.kind,
                    f"{job.rows_written:,}",
                    rate_text(job.rows_read, job.busy_seconds) or "-",
                    f"{job.windows:,}" + (f" (last {job.last_window})" if job.last_window else ""),
                    state,
                )
            footer = Text(
                f"pass {self.passes} · {plural(self.rows_written, 'row')} written · "
                f"{format_seconds(time.monotonic() - self.started)}",
                style="dim",
            )
        return Group(table, footer)


def window_text(start: datetime, end: datetime, *, short: bool = False) -> str:
    """A window as people read it: whole days as dates (a DAY window is not "00:00:00 to
    00:00:00"), a window within one day as its date once and two times."""
    if _at_midnight(start) and _at_midnight(end):
        days = (end - start).days
        if days == 1:
            return f"{start:%Y-%m-%d} (the whole day)"
        return f"{start:%Y-%m-%d} to {end:%Y-%m-%d} ({days} days)"
    if start.date() == end.date() or (_at_midnight(end) and end - start <= timedelta(days=1)):
        day = "" if short else f"{start:%Y-%m-%d} "
        return f"{day}{start:%H:%M:%S} to {end:%H:%M:%S}"
    return f"{start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S}"


def _at_midnight(moment: datetime) -> bool:
    return (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0)


def rate_text(rows: int, seconds: float) -> str | None:
    """Rows per second, or None when there is nothing to measure (no rows, no time): a tiny
    batch shows no rate rather than "0 rows/s"."""
    if rows <= 0 or seconds <= 0:
        return None
    rate = rows / seconds
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"


def report_error(err: RichConsole, message: str, hint: str | None = None) -> None:
    """``error: <message>`` and ``hint: <hint>``, in red, on stderr. Never markup-interpreted."""
    first, _, rest = message.partition("\n")
    err.print(Text.assemble(("error: ", "bold red"), (first, "red")))
    if rest:
        err.print(Text(rest))
    if hint:
        err.print(Text.assemble(("hint: ", "bold yellow"), (hint, "yellow")))
