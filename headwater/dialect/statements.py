"""Connections, tables, materialized views, PAUSE/RESUME/DROP, and plain queries."""

from __future__ import annotations

import typing as t

from sqlglot import exp
from sqlglot.tokens import TokenType

from headwater.dialect.cursor import Cursor
from headwater.dialect.nodes import (
    CONNECTION_OPTIONS,
    ColumnDef,
    ConnectionKind,
    CreateConnection,
    CreateMaterializedView,
    CreateTable,
    Drop,
    DropKind,
    PauseJob,
    Query,
    ResumeJob,
)
from headwater.dialect.options import (
    ALL_OPTION_NAMES,
    CONNECTION_OPTION_READERS,
    TABLE_CLAUSES,
    read_columns,
    read_options,
    read_string,
    unknown_option,
)

REQUIRED_CONNECTION_OPTIONS: dict[ConnectionKind, tuple[str, ...]] = {
    "FILES": ("PATH",),
    "KAFKA": ("HOSTS",),
    "POSTGRES": ("CONNECTION_STRING",),
    "MYSQL": ("CONNECTION_STRING",),
    "S3": ("BUCKET",),
}


def create_connection(c: Cursor, kind: ConnectionKind) -> CreateConnection:
    """After ``CREATE <kind> CONNECTION``."""
    name_token = c.current
    name = c.name("a connection name")
    allowed = {o: CONNECTION_OPTION_READERS[o] for o in CONNECTION_OPTIONS[kind]}
    found = read_options(c, allowed, f"CREATE {kind} CONNECTION")
    for required in REQUIRED_CONNECTION_OPTIONS[kind]:
        if required not in found:
            raise c.error(f"CREATE {kind} CONNECTION {name} needs {required} = '...'", name_token)
    options = {option: t.cast("str | tuple[str, ...]", v.value) for option, v in found.items()}
    return CreateConnection(c.pos, c.text, kind, name, options)


def create_table(c: Cursor) -> CreateTable:
    """After ``CREATE TABLE``."""
    table = c.table_name()
    columns: list[ColumnDef] = []
    if c.at_type(TokenType.L_PAREN):
        columns = c.parenthesised(lambda: _column_def(c), "the column list")
    primary_key: list[str] | None = None
    partitioned_by: list[str] | None = None
    comment: str | None = None
    seen: dict[str, int] = {}
    while not c.at_end():
        token = c.current
        assert token is not None
        clause = next((k for k in TABLE_CLAUSES if c.at(*k.split())), None)
        if clause is None:
            if c.at("AS"):
                raise c.error(
                    "CREATE TABLE ... AS is not supported: use CREATE MATERIALIZED VIEW ... AS SELECT, "
                    "or a job that inserts into the table"
                )
            if c.word() in ALL_OPTION_NAMES:
                raise unknown_option(c, token, TABLE_CLAUSES, "CREATE TABLE")
            raise c.expected("PRIMARY KEY, PARTITIONED BY, COMMENT or the end of the statement")
        if clause in seen:
            first = c.source.position(seen[clause])
            raise c.error(f"{clause} is given twice (first at {first.line}:{first.col})", token)
        seen[clause] = token.start
        c.match(*clause.split())
        if clause == "PRIMARY KEY":
            primary_key = read_columns(c)
        elif clause == "PARTITIONED BY":
            partitioned_by = read_columns(c)
        else:
            c.expect_type(TokenType.EQ, "'=' after COMMENT")
            comment = read_string(c)
    return CreateTable(c.pos, c.text, table, columns, primary_key or [], partitioned_by or [], comment)


def _column_def(c: Cursor) -> ColumnDef:
    name = c.identifier("a column name", lower=False)
    tokens = c.take_until(lambda: c.at_type(TokenType.COMMA))
    data_type = c.sql(tokens, exp.DataType, f"a type for column {name}", parse_as=exp.DataType)
    return ColumnDef(name, data_type.sql(dialect="duckdb"))


def create_materialized_view(c: Cursor) -> CreateMaterializedView:
    """After ``CREATE MATERIALIZED VIEW``."""
    view = c.table_name("a view name")
    c.expect("AS", what="AS SELECT ...")
    first = c.current
    tokens = c.tokens[c.i :]
    c.i = len(c.tokens)
    query = c.sql(tokens, exp.Expr, "a query (SELECT ...)", parse_as=None)
    if not isinstance(query, exp.Query):
        raise c.expected("a query (SELECT ...)", first)
    return CreateMaterializedView(c.pos, c.text, view, query)


def pause_job(c: Cursor) -> PauseJob:
    name = c.name("a job name")
    c.expect_end("the end of the statement")
    return PauseJob(c.pos, c.text, name)


def resume_job(c: Cursor) -> ResumeJob:
    name = c.name("a job name")
    c.expect_end("the end of the statement")
    return ResumeJob(c.pos, c.text, name)


def drop(c: Cursor, kind: DropKind) -> Drop:
    """After ``DROP JOB|TABLE|CONNECTION|MATERIALIZED VIEW``."""
    if c.at("IF", "EXISTS"):
        raise c.error(f"DROP {kind} IF EXISTS is not supported: name an existing {kind.lower()}")
    is_table = kind in ("TABLE", "MATERIALIZED VIEW")
    name = str(c.table_name()) if is_table else c.name(f"a {kind.lower()} name")
    c.expect_end("the end of the statement")
    return Drop(c.pos, c.text, kind, name)


def query(c: Cursor) -> Query:
    """Any other SQL, parsed with the Headwater dialect and run as-is on DuckDB."""
    tokens = c.tokens[c.i :]
    c.i = len(c.tokens)
    expression = c.sql(tokens, exp.Expression, "a SQL statement", parse_as=None)
    return Query(c.pos, c.text, expression)
