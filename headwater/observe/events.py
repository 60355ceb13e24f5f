"""Typed events: the runner emits them, a Console shows them (terminal, tests, web)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class PlanApplied(Event):
    lines: tuple[str, ...]


@dataclass(frozen=True)
class BatchCommitted(Event):
    job: str
    run_id: int
    rows_read: int
    rows_written: int
    files: int  # the files (or partitions: ``unit``) whose position moved
    bytes_read: int
    seconds: float
    unit: str = "file"


@dataclass(frozen=True)
class WindowCommitted(Event):
    job: str
    run_id: int
    window_start: datetime
    window_end: datetime
    rows_read: int
    rows_written: int
    provisional: bool = False  # the window was not final: it runs again, replacing this output


@dataclass(frozen=True)
class ViewRefreshed(Event):
    view: str
    rows: int  # rows written: all of them (full recompute), those of the changed groups (incremental)
    how: str = "full recompute"  # "incremental" or "full recompute: <why>"


@dataclass(frozen=True)
class JobFailedEvent(Event):
    job: str
    error: str


@dataclass(frozen=True)
class JobSkipped(Event):
    job: str
    reason: str


@dataclass(frozen=True)
class Notice(Event):
    message: str


@dataclass(frozen=True)
class PassFinished(Event):
    rows_written: int
    failed_jobs: tuple[str, ...]
    seconds: float


class Console(Protocol):
    def emit(self, event: Event) -> None: ...


class NullConsole:
    def emit(self, event: Event) -> None:
        pass


class CaptureConsole:
    """Keeps every event: for tests and for callers that want to inspect a run."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]
