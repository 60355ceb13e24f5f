from __future__ import annotations

from headwater.errors import HeadwaterError, UserError


class LakeError(HeadwaterError):
    """The lake (DuckDB/DuckLake) refused an operation."""


class LakeBusy(UserError):
    """Another process holds the lake."""


class QueryError(UserError):
    """A user's query failed in DuckDB (bad column, bad table, type error...)."""
