"""The names the lake's catalog is attached and organised under, and SQL literals: what code
that writes the lake's SQL needs without DuckDB."""

LAKE = "lake"
INTERNAL_SCHEMA = "headwater"
SYSTEM_SCHEMA = "system"


def literal(value: str) -> str:
    """A string as a SQL literal. For a reading command's queries: a query with parameters
    makes DuckDB import pandas (~0.2 s), more than such a command takes otherwise."""
    return "'" + value.replace("'", "''") + "'"
