"""The only package that talks to DuckDB/DuckLake."""

from headwater.lake.engine import INTERNAL_SCHEMA, LAKE, SYSTEM_SCHEMA, Lake, qualified, quote
from headwater.lake.errors import LakeBusy, LakeError, QueryError

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
