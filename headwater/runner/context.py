"""What every stage of a run pass shares."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from headwater.catalog.model import Catalog, Entry
from headwater.config import Settings
from headwater.dialect.nodes import AddExpectation, AlterJob, CreateIngestJob, CreateTransformJob, Expectation
from headwater.errors import UserError
from headwater.lake import INTERNAL_SCHEMA, LAKE, Lake
from headwater.observe.events import Console, Event
from headwater.quality.batch import QualitySpec
from headwater.quality.secret import Sealer, project_secret, salt
from headwater.quality.transforms import SALT_VARIABLE
from headwater.state.store import next_run_id

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str, *, what: str) -> str:
    """Replace ``${VAR}`` with the environment's value (secrets are never stored)."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise UserError(
                f"{what} uses ${{{name}}}, which is not set in the environment", hint=f"export {name}=..."
            )
        return os.environ[name]

    return _ENV.sub(sub, value)


def effective_expectations(lake: Lake, job: str, declared: list[Expectation]) -> list[Expectation]:
    """The job's expectations from its file, plus/minus interactive ALTER JOB ... EXPECTATION."""
    rows = lake.fetchall(
        f'SELECT action, name, sql FROM {LAKE}.{INTERNAL_SCHEMA}.job_overrides WHERE job = ? ORDER BY "at"',
        [job],
    )
    current = {e.name: e for e in declared}
    for action, name, sql in rows:
        if action == "drop_expectation":
            current.pop(name, None)
        elif action == "add_expectation":
            from headwater.dialect import parse

            stmt = parse(sql)[0]
            if isinstance(stmt, AlterJob) and isinstance(stmt.action, AddExpectation):
                current[name] = stmt.action.expectation
    return list(current.values())


@dataclass
class RunContext:
    lake: Lake
    catalog: Catalog
    project_dir: Path
    settings: Settings
    console: Console
    drain: bool  # `run --once`: read everything available now, run open windows that have data
    stop: threading.Event = field(default_factory=threading.Event)  # set on Ctrl-C / SIGTERM
    # Ingestion jobs without EVENT_TIME: the time up to which they have read their source in
    # this run (see ``runner.watermarks.read_up_to``).
    read_up_to: dict[str, datetime] = field(default_factory=dict)
    _next_run_id: int = field(default=0)
    _specs: dict[str, QualitySpec] = field(default_factory=dict)

    def new_run_id(self) -> int:
        if not self._next_run_id:
            self._next_run_id = next_run_id(self.lake)
        rid = self._next_run_id
        self._next_run_id += 1
        return rid

    def emit(self, event: Event) -> None:
        self.console.emit(event)

    def __post_init__(self) -> None:
        self._secret = project_secret(self.project_dir / ".headwater")
        self.lake.execute(f"SET VARIABLE {SALT_VARIABLE} = ?", [salt(self._secret)])

    def sealer(self) -> Sealer:
        return Sealer(self._secret)

    def forget(self) -> None:
        """Read the jobs' expectations again (``ALTER JOB`` may have changed them)."""
        self._specs.clear()

    def quality_spec(self, entry: Entry) -> QualitySpec:
        if entry.name not in self._specs:
            self._specs[entry.name] = self._quality_spec(entry)
        return self._specs[entry.name]

    def _quality_spec(self, entry: Entry) -> QualitySpec:
        stmt = entry.statement
        if isinstance(stmt, CreateIngestJob):
            opts = stmt.options
            return QualitySpec(
                opts.column_transformations,
                opts.exclude_columns,
                effective_expectations(self.lake, stmt.name, stmt.expectations),
                opts.deduplicate_with,
            )
        if isinstance(stmt, CreateTransformJob):
            return QualitySpec(expectations=effective_expectations(self.lake, stmt.name, stmt.expectations))
        return QualitySpec()
