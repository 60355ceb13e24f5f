"""Headwater SQL: parse text into typed statement nodes, print them back, run on DuckDB.

``parse(text, file)`` returns the statements of one file. Names of jobs, connections,
schemas, tables and expectations are folded to lower case unless quoted (as DuckDB
does); column names are kept as written. A bare table name means schema ``main``.
"""

from __future__ import annotations

import logging

from sqlglot import exp

from headwater.dialect.cursor import Cursor
from headwater.dialect.errors import ParseError
from headwater.dialect.nodes import (
    CDC_COLUMNS,
    SYSTEM_COLUMNS,
    AddExpectation,
    AlterJob,
    AnyStatement,
    ColumnDef,
    ColumnTransformation,
    CopySource,
    CreateConnection,
    CreateIngestJob,
    CreateMaterializedView,
    CreateTable,
    CreateTransformJob,
    Dedupe,
    Drop,
    DropExpectation,
    Duration,
    Expectation,
    IngestOptions,
    PauseJob,
    Position,
    Query,
    ResumeJob,
    SetOption,
    StartFrom,
    Statement,
    TableName,
    TransformOptions,
)
from headwater.dialect.parser import parse
from headwater.dialect.source import SourceText, split_statements, tokenize
from headwater.dialect.sqlglot_dialect import Headwater


def parse_expression(text: str) -> exp.Expression:
    """One SQL expression in the Headwater dialect (``$event_time > now() - INTERVAL 1 HOUR``)."""
    source = SourceText(text)
    parts = split_statements(tokenize(source))
    if len(parts) != 1:
        raise source.error("expected one expression", parts[1].start if parts else 0)
    c = Cursor(source, parts[0])
    return c.sql(c.tokens, exp.Expression, "an expression")


def to_duckdb(expression: exp.Expr) -> str:
    """SQL that DuckDB runs: system columns become quoted identifiers (``"$event_time"``)."""
    return expression.sql(dialect="duckdb")


__all__ = [
    "CDC_COLUMNS",
    "SYSTEM_COLUMNS",
    "AddExpectation",
    "AlterJob",
    "AnyStatement",
    "ColumnDef",
    "ColumnTransformation",
    "CopySource",
    "CreateConnection",
    "CreateIngestJob",
    "CreateMaterializedView",
    "CreateTable",
    "CreateTransformJob",
    "Dedupe",
    "Drop",
    "DropExpectation",
    "Duration",
    "Expectation",
    "Headwater",
    "IngestOptions",
    "ParseError",
    "PauseJob",
    "Position",
    "Query",
    "ResumeJob",
    "SetOption",
    "StartFrom",
    "Statement",
    "TableName",
    "TransformOptions",
    "parse",
    "parse_expression",
    "to_duckdb",
]

# sqlglot warns on stderr when it falls back to an opaque Command; Headwater reports those itself.
logging.getLogger("sqlglot").setLevel(logging.ERROR)
