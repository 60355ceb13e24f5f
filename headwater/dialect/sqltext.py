"""Small printers shared by the nodes' ``to_sql()``: names, strings, lists, expressions."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.generators.duckdb import DuckDBGenerator

_OBJECT_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SYSTEM_COLUMN = re.compile(r"\$[a-z_]+")


def _is_keyword(name: str) -> bool:
    """Quote what the tokenizer reads as a keyword or sqlglot itself would quote."""
    return name.upper() in DuckDB.Tokenizer.KEYWORDS or name.lower() in DuckDBGenerator.RESERVED_KEYWORDS


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def object_name(name: str) -> str:
    """A job, connection, schema or table name; unquoted names are stored lower-case."""
    if _OBJECT_NAME.fullmatch(name) and not _is_keyword(name):
        return name
    return _quote_identifier(name)


def column_name(name: str) -> str:
    """One column name, kept as written."""
    from headwater.dialect.sqlglot_dialect import is_system_column

    if is_system_column(name):
        return name
    if _COLUMN_NAME.fullmatch(name) and not _is_keyword(name):
        return name
    return _quote_identifier(name)


def column_path(path: str) -> str:
    """A dotted column path such as ``customer.email``."""
    return ".".join(column_name(part) for part in path.split("."))


def column_list(paths: Iterable[str]) -> str:
    return "(" + ", ".join(column_path(p) for p in paths) + ")"


def string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def string_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(string(v) for v in values) + ")"


def expression(node: exp.Expr) -> str:
    """A sqlglot expression printed in the Headwater dialect (``$event_time`` bare)."""
    from headwater.dialect.sqlglot_dialect import Headwater

    return node.sql(dialect=Headwater)
