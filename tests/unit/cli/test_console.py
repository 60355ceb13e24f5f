"""The terminal console: a line per event in a pipe, a live table on a terminal."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from headwater.cli.console import TerminalConsole, report_error
from headwater.observe.events import (
    BatchCommitted,
    JobFailedEvent,
    JobSkipped,
    Notice,
    PassFinished,
    PlanApplied,
    ViewRefreshed,
    WindowCommitted,
)

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
END = datetime(2026, 1, 5, 9, 1, tzinfo=UTC)
EVENTS = [
    PlanApplied(("+ table bronze.orders", "~ ingest job load")),
    BatchCommitted("load", 1, rows_read=1000, rows_written=990, files=2, bytes_read=2048, seconds=0.5),
    BatchCommitted("load", 2, rows_read=1000, rows_written=1000, files=1, bytes_read=1024, seconds=1.5),
    WindowCommitted("clean", 3, START, END, rows_read=1990, rows_written=1990),
    ViewRefreshed("gold.v", rows=7),
    JobFailedEvent("broken", "job broken (a.sql:3:1): [red]no[/red]"),
    JobSkipped("after", "an upstream job failed"),
    JobSkipped("after", "an upstream job failed"),
    Notice("stopping after the current batch"),
    PassFinished(rows_written=3987, failed_jobs=("after", "broken"), seconds=2.0),
    PassFinished(rows_written=0, failed_jobs=(), seconds=0.1),
]


def console() -> Console:
    return Console(file=io.StringIO(), width=300, force_terminal=False)


def test_one_line_per_event_in_a_pipe() -> None:
    err = console()
    with TerminalConsole(err) as terminal:
        assert not terminal.use_live
        for event in EVENTS:
            terminal.emit(event)
    out = err.file.getvalue()  # type: ignore[attr-defined]
    assert out.splitlines() == [
        "applied plan:",
        "  + table bronze.orders",
        "  ~ ingest job load",
        "load: committed 990 rows (2 files, 2.0 KB) in 500ms, 2,000 rows/s",
        "load: committed 1,000 rows (1 file, 1.0 KB) in 1.5s, 667 rows/s",
        "clean: window 2026-01-05 09:00:00 to 09:01:00 committed, 1,990 rows in, 1,990 rows out",
        "gold.v: refreshed, 7 rows",
        "✗ broken failed: job broken (a.sql:3:1): [red]no[/red]",
        "after: skipped, an upstream job failed",
        "stopping after the current batch",
        "pass 1 finished: 3,987 rows written in 2.0s, failed: after, broken",
    ]


def test_live_table_counts_per_job() -> None:
    err = console()
    terminal = TerminalConsole(err, live=True)
    with terminal:
        for event in EVENTS[:6]:
            terminal.emit(event)
        render = Console(file=io.StringIO(), width=300, record=True)
        render.print(terminal.render())
        table = render.export_text()
    assert terminal.jobs["load"].rows_written == 1990
    assert terminal.jobs["load"].rate == 1000.0
    assert terminal.jobs["clean"].windows == 1
    assert terminal.jobs["broken"].state == "failed"
    load = next(line for line in table.splitlines() if line.startswith("load"))
    assert "1,990" in load and "1,000" in load
    assert "last 09:00:00 to 09:01:00" in table
    printed = err.file.getvalue()  # type: ignore[attr-defined]
    assert "broken failed" in printed
    assert "committed" not in printed


def test_report_error_prints_message_place_and_hint() -> None:
    err = console()
    report_error(err, "a.sql:2:5: bad [thing]\n  2 | SELEC 1\n    |     ^", "fix it")
    assert err.file.getvalue().splitlines() == [  # type: ignore[attr-defined]
        "error: a.sql:2:5: bad [thing]",
        "  2 | SELEC 1",
        "    |     ^",
        "hint: fix it",
    ]


def test_day_windows_and_tiny_batches_read_well() -> None:
    err = console()
    with TerminalConsole(err, live=False) as terminal:
        terminal.emit(WindowCommitted("daily", 1, datetime(2026, 1, 5), datetime(2026, 1, 6), 3, 3))
        terminal.emit(WindowCommitted("weekly", 2, datetime(2026, 1, 5), datetime(2026, 1, 12), 3, 3))
        terminal.emit(BatchCommitted("load", 3, 1, 1, 1, 10, 0.0))
        terminal.emit(BatchCommitted("load", 4, 1, 1, 1, 10, 3.0))
    lines = err.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines == [
        "daily: window 2026-01-05 (the whole day) committed, 3 rows in, 3 rows out",
        "weekly: window 2026-01-05 to 2026-01-12 (7 days) committed, 3 rows in, 3 rows out",
        "load: committed 1 row (1 file, 10 B) in 0ms",
        "load: committed 1 row (1 file, 10 B) in 3.0s, 0.33 rows/s",
    ]
    assert terminal.jobs["daily"].last_window == "2026-01-05 (the whole day)"


def test_a_provisional_window_says_so() -> None:
    err = console()
    with TerminalConsole(err, live=False) as terminal:
        terminal.emit(
            WindowCommitted("daily", 1, datetime(2026, 1, 5), datetime(2026, 1, 6), 3, 3, provisional=True)
        )
    assert err.file.getvalue().splitlines() == [  # type: ignore[attr-defined]
        "daily: window 2026-01-05 (the whole day) committed provisionally (not final yet), 3 rows in, 3 rows out"
    ]


def test_a_view_says_how_it_was_refreshed() -> None:
    err = console()
    with TerminalConsole(err) as terminal:
        terminal.emit(ViewRefreshed("gold.v", 3, "incremental"))
        terminal.emit(
            ViewRefreshed("gold.w", 9, "full recompute: the dimension table silver.customers changed")
        )
    assert err.file.getvalue().splitlines() == [  # type: ignore[attr-defined]
        "gold.v: refreshed from its inputs' changes, 3 rows written",
        "gold.w: recomputed (the dimension table silver.customers changed), 9 rows",
    ]
