from __future__ import annotations

from headwater.errors import UserError


class LakeError(UserError):
    """The lake (DuckDB/DuckLake) cannot be opened or refused an operation as configured."""


class LakeBusy(UserError):
    """Another process holds the lake."""


class QueryError(UserError):
    """A user's query failed in DuckDB (bad column, bad table, type error...)."""
