"""What every stage of a run pass shares."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from headwater.catalog.model import Catalog
from headwater.config import Settings
from headwater.errors import UserError
from headwater.lake import Lake
from headwater.observe.events import Console, Event
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


@dataclass
class RunContext:
    lake: Lake
    catalog: Catalog
    project_dir: Path
    settings: Settings
    console: Console
    drain: bool  # `run --once`: read everything available now, run open windows that have data
    _next_run_id: int = field(default=0)

    def new_run_id(self) -> int:
        if not self._next_run_id:
            self._next_run_id = next_run_id(self.lake)
        rid = self._next_run_id
        self._next_run_id += 1
        return rid

    def emit(self, event: Event) -> None:
        self.console.emit(event)
