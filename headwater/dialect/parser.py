"""Headwater SQL text -> typed statement nodes.

The text is tokenized once with the Headwater dialect, split on ``;`` tokens (so a ``;``
in a string or comment never splits), and each statement is dispatched on its leading
keywords through ``STATEMENT_PARSERS``; anything else is a ``Query`` for DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable

from headwater.dialect import jobs, statements
from headwater.dialect.cursor import Cursor
from headwater.dialect.nodes import CONNECTION_OPTIONS, AnyStatement, ConnectionKind
from headwater.dialect.source import SourceText, split_statements, tokenize

StatementParser = Callable[[Cursor], AnyStatement]


def _connection(kind: ConnectionKind) -> StatementParser:
    return lambda c: statements.create_connection(c, kind)


STATEMENT_PARSERS: dict[tuple[str, ...], StatementParser] = {
    ("CREATE", "TABLE"): statements.create_table,
    ("CREATE", "JOB"): lambda c: jobs.create_job(c, sync=False),
    ("CREATE", "SYNC", "JOB"): lambda c: jobs.create_job(c, sync=True),
    ("CREATE", "MATERIALIZED", "VIEW"): statements.create_materialized_view,
    **{("CREATE", kind, "CONNECTION"): _connection(kind) for kind in CONNECTION_OPTIONS},
    ("ALTER", "JOB"): jobs.alter_job,
    ("PAUSE", "JOB"): statements.pause_job,
    ("RESUME", "JOB"): statements.resume_job,
    ("DROP", "JOB"): lambda c: statements.drop(c, "JOB"),
    ("DROP", "TABLE"): lambda c: statements.drop(c, "TABLE"),
    ("DROP", "CONNECTION"): lambda c: statements.drop(c, "CONNECTION"),
    ("DROP", "MATERIALIZED", "VIEW"): lambda c: statements.drop(c, "MATERIALIZED VIEW"),
}
_BY_LENGTH = sorted(STATEMENT_PARSERS, key=len, reverse=True)


def parse(text: str, file: str | None = None) -> list[AnyStatement]:
    """Parse a file's worth of Headwater SQL. Raises ``ParseError`` with file:line:col."""
    source = SourceText(text, file)
    return [parse_statement(Cursor(source, s)) for s in split_statements(tokenize(source))]


def parse_statement(c: Cursor) -> AnyStatement:
    for keywords in _BY_LENGTH:
        if c.match(*keywords):
            return STATEMENT_PARSERS[keywords](c)
    _reject_near_misses(c)
    return statements.query(c)


def _reject_near_misses(c: Cursor) -> None:
    """Statements that start like ours but are not: say what was meant instead of DuckDB's error."""
    kinds = ", ".join(CONNECTION_OPTIONS)
    if c.at("CREATE") and c.at("CONNECTION", ahead=2):
        raise c.error(f"unknown connection kind {c.describe(c.peek(1))}; expected {kinds}", c.peek(1))
    if c.at("CREATE", "CONNECTION"):
        raise c.expected(f"a connection kind ({kinds}) before CONNECTION", c.peek(1))
    if c.at("CREATE", "SYNC"):
        raise c.expected("JOB after CREATE SYNC", c.peek(2))
    if c.at("CREATE", "MATERIALIZED"):
        raise c.expected("VIEW after CREATE MATERIALIZED", c.peek(2))
    for verb in ("PAUSE", "RESUME"):
        if c.at(verb):
            raise c.expected(f"JOB after {verb}", c.peek(1))
