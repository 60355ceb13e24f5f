"""The only package that talks to DuckDB/DuckLake.

``Lake``, ``qualified`` and ``quote`` are imported on first use (they need DuckDB); the names
and errors are not, so code that only names the lake's tables starts without DuckDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.lake.errors import LakeBusy, LakeError, QueryError
from headwater.lake.names import INTERNAL_SCHEMA, LAKE, SYSTEM_SCHEMA

if TYPE_CHECKING:
    from headwater.lake.engine import Lake, qualified, quote

__all__ = [
    "INTERNAL_SCHEMA",
    "LAKE",
    "SYSTEM_SCHEMA",
    "Lake",
    "LakeBusy",
    "LakeError",
    "QueryError",
    "qualified",
    "quote",
]


def __getattr__(name: str) -> Any:
    if name in ("Lake", "qualified", "quote"):
        from headwater.lake import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'headwater.lake' has no attribute {name!r}")
