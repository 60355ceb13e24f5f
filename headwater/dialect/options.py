"""``NAME = value`` options: which exist, where they are allowed, and how values are read."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from headwater.dialect.cursor import Cursor
from headwater.dialect.nodes import (
    CONNECTION_OPTIONS,
    ColumnTransformation,
    Dedupe,
    Duration,
    StartFrom,
)

Reader = Callable[[Cursor], object]

DURATION_UNITS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
TIMESTAMP_EXAMPLE = "'2026-01-01T00:00:00Z'"


# -- value readers -------------------------------------------------------------------------
def read_duration(c: Cursor) -> Duration:
    token = c.current
    if token is None or token.token_type != TokenType.NUMBER or not token.text.isdigit():
        raise c.expected("a duration like '5 SECONDS'")
    c.advance()
    unit = c.word()
    size = DURATION_UNITS.get(unit.removesuffix("S") if unit else "")
    if size is None:
        raise c.expected(f"a unit after {token.text}: SECOND[S], MINUTE[S], HOUR[S] or DAY[S]")
    c.advance()
    return Duration(int(token.text) * size)


def read_string(c: Cursor) -> str:
    return c.expect_type(TokenType.STRING, "a string in single quotes").text


def keyword_reader(*choices: str) -> Reader:
    def read_keyword(c: Cursor) -> str:
        word = c.word()
        if word not in choices:
            token = c.current
            hint = None
            if token is not None and token.token_type == TokenType.STRING and token.text.upper() in choices:
                hint = f"write {token.text.upper()} without quotes"
            raise c.expected(f"one of {', '.join(choices)}", hint=hint)
        c.advance()
        return word

    return read_keyword


def read_start_from(c: Cursor) -> StartFrom:
    if c.match("BEGINNING"):
        return StartFrom("BEGINNING")
    if c.match("NOW"):
        return StartFrom("NOW")
    token = c.current
    if token is None or token.token_type != TokenType.STRING:
        raise c.expected(f"BEGINNING, NOW or a timestamp like {TIMESTAMP_EXAMPLE}")
    try:
        datetime.fromisoformat(token.text)
    except ValueError:
        raise c.error(
            f"invalid timestamp '{token.text}': expected an ISO-8601 timestamp like {TIMESTAMP_EXAMPLE}"
        ) from None
    c.advance()
    return StartFrom("TIMESTAMP", token.text)


def read_columns(c: Cursor) -> list[str]:
    if c.at_type(TokenType.L_PAREN):
        return c.parenthesised(c.column_path, "a list of columns")
    return [c.column_path("a column or a list of columns like (a, b)")]


def read_strings(c: Cursor) -> list[str]:
    if c.at_type(TokenType.L_PAREN):
        return c.parenthesised(lambda: read_string(c), "a list of strings")
    return [c.expect_type(TokenType.STRING, "a string or a list of strings like ('a', 'b')").text]


def read_expression(c: Cursor) -> exp.Expression:
    """A column expression, up to the next option, ``AS``, or the end of the statement."""
    tokens = c.take_until(lambda: c.at("AS") or (c.word() in ALL_OPTION_NAMES and c.at_type(TokenType.EQ, 1)))
    return c.sql(tokens, exp.Expression, "a column expression")


def _read_item_expression(c: Cursor) -> exp.Expression:
    tokens = c.take_until(lambda: c.at_type(TokenType.COMMA) or c.at("AS"))
    expression = c.sql(tokens, exp.Expression, "an expression")
    _check_pii_calls(c, tokens, expression)
    return expression


# HASH, MASK and REDACT: how many arguments each takes, and how it is written.
PII_FUNCTIONS = {"HASH": (1, "HASH(col)"), "MASK": (2, "MASK(col, 4)"), "REDACT": (1, "REDACT(col)")}


def _check_pii_calls(c: Cursor, tokens: list[Token], expression: exp.Expression) -> None:
    """HASH/MASK/REDACT with the wrong arguments is an error here, not when data arrives."""
    calls = [
        tok
        for tok, nxt in itertools.pairwise(tokens)
        if tok.text.upper() in PII_FUNCTIONS and nxt.token_type == TokenType.L_PAREN
    ]
    found = [
        n for n in expression.dfs() if isinstance(n, exp.Anonymous) and str(n.this).upper() in PII_FUNCTIONS
    ]
    for token, node in zip(calls, found, strict=False):
        name = str(node.this).upper()
        count, usage = PII_FUNCTIONS[name]
        args = node.expressions
        if len(args) != count:
            raise c.error(f"{name} takes {count} argument{'s' if count > 1 else ''}: write {usage}", token)
        if name == "MASK" and not (isinstance(args[1], exp.Literal) and args[1].is_int):
            raise c.error(
                "MASK's second argument is how many characters to keep at the end: "
                "a whole number, 0 or more, as in MASK(col, 4)",
                token,
            )


def read_transformations(c: Cursor) -> list[ColumnTransformation]:
    def one() -> ColumnTransformation:
        target = c.column_path("a column to transform")
        c.expect_type(TokenType.EQ, f"'=' after {target}, as in {target} = HASH({target})")
        return ColumnTransformation(target, _read_item_expression(c))

    return c.parenthesised(one, "COLUMN_TRANSFORMATIONS")


def read_dedupe(c: Cursor) -> Dedupe:
    start = c.current
    fields = read_options(c, DEDUPE_OPTIONS, "DEDUPLICATE_WITH", parenthesised=True)
    for required in ("COLUMNS", "WINDOW"):
        if required not in fields:
            raise c.error(
                f"DEDUPLICATE_WITH needs {required}: write (COLUMNS = (id), WINDOW = 4 HOURS)", start
            )
    columns = fields["COLUMNS"].value
    window = fields["WINDOW"].value
    assert isinstance(columns, list) and isinstance(window, Duration)
    if window.seconds <= 0:
        raise c.error(
            "DEDUPLICATE_WITH WINDOW must be at least 1 SECOND: it is how long a key is remembered",
            fields["WINDOW"].token,
        )
    return Dedupe(columns, window)


# -- option tables -------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    read: Reader
    kinds: frozenset[str]  # where it is accepted: INGEST, TRANSFORM, COPY, DEDUPE, CONNECTION


def _opt(read: Reader, *kinds: str) -> Option:
    return Option(read, frozenset(kinds))


JOB_OPTIONS: dict[str, Option] = {
    "CONTENT_TYPE": _opt(keyword_reader("AUTO", "JSON", "CSV", "PARQUET"), "INGEST"),
    "START_FROM": _opt(read_start_from, "INGEST", "TRANSFORM"),
    "EVENT_TIME": _opt(read_expression, "INGEST"),
    "DEDUPLICATE_WITH": _opt(read_dedupe, "INGEST"),
    "COLUMN_TRANSFORMATIONS": _opt(read_transformations, "INGEST"),
    "EXCLUDE_COLUMNS": _opt(read_columns, "INGEST"),
    "ON_SCHEMA_CHANGE": _opt(keyword_reader("EVOLVE", "QUARANTINE", "FAIL"), "INGEST"),
    "ON_RETENTION_GAP": _opt(keyword_reader("FAIL", "SKIP"), "INGEST"),
    "LATENESS": _opt(read_duration, "INGEST"),
    "COMMIT_INTERVAL": _opt(read_duration, "INGEST"),
    "RUN_INTERVAL": _opt(read_duration, "TRANSFORM"),
    "COMMENT": _opt(read_string, "INGEST", "TRANSFORM"),
}
COPY_OPTIONS: dict[str, Option] = {
    "PATTERN": _opt(read_string, "COPY"),
    "TOPIC": _opt(read_string, "COPY"),
    "TABLE_INCLUDE_LIST": _opt(read_strings, "COPY"),
    "CDC_MODE": _opt(keyword_reader("REPLICATE", "SOFT_DELETE", "CHANGELOG", "HISTORY"), "COPY"),
}
DEDUPE_OPTIONS: dict[str, Option] = {
    "COLUMNS": _opt(read_columns, "DEDUPE"),
    "WINDOW": _opt(read_duration, "DEDUPE"),
}


def _read_hosts(c: Cursor) -> tuple[str, ...]:
    return tuple(read_strings(c))


CONNECTION_OPTION_READERS: dict[str, Option] = {
    name: _opt(_read_hosts if name == "HOSTS" else read_string, "CONNECTION")
    for opts in CONNECTION_OPTIONS.values()
    for name in opts
}
TABLE_CLAUSES = ("PRIMARY KEY", "PARTITIONED BY", "COMMENT")
ALL_OPTION_NAMES = frozenset(JOB_OPTIONS) | frozenset(COPY_OPTIONS) | frozenset(CONNECTION_OPTION_READERS)


# -- reading a run of options --------------------------------------------------------------
@dataclass
class OptionValue:
    value: object
    token: Token  # the option's name, for errors that point at it


def unknown_option(c: Cursor, token: Token, valid: Collection[str], where: str) -> Exception:
    name = c.source.token_text(token).upper()
    hint = None
    close = difflib.get_close_matches(name, list(valid), n=1)
    if close:
        hint = f"did you mean {close[0]}?"
    shown = c.describe(token)
    if name in ALL_OPTION_NAMES or name in TABLE_CLAUSES:
        message = f"{shown} is not an option of {where}"
    else:
        message = f"unknown option {shown} in {where}"
    message += f"; valid options: {', '.join(valid)}"
    return c.error(message + (f" ({hint})" if hint else ""), token)


def read_options(
    c: Cursor,
    options: Mapping[str, Option],
    where: str,
    *,
    stop: Collection[str] = (),
    parenthesised: bool = False,
    after_stop: Collection[str] = (),
) -> dict[str, OptionValue]:
    """Read ``NAME = value`` pairs until a word in ``stop`` or the end.

    With ``parenthesised`` the pairs are ``(NAME = value, ...)``. A word of ``after_stop``
    (one that only comes after the stop word) means the stop word was left out.
    """
    found: dict[str, OptionValue] = {}
    if parenthesised:
        c.expect_type(TokenType.L_PAREN, f"'(' to start {where}")
    while True:
        if parenthesised and found and not c.match_type(TokenType.COMMA):
            c.expect_type(TokenType.R_PAREN, f"',' or ')' in {where}")
            return found
        token = c.current
        if token is None or (not parenthesised and c.word() in stop):
            return found
        name = c.word()
        if name is None:
            ends = [*stop] if stop else [] if parenthesised else ["the end of the statement"]
            raise c.expected(" or ".join(["an option name", *ends]))
        if name in after_stop:
            raise c.expected(f"{' or '.join(stop)} before {name}")
        if name not in options:
            raise unknown_option(c, token, options, where)
        if name in found:
            first = c.source.position(found[name].token.start)
            raise c.error(f"option {name} is given twice (first at {first.line}:{first.col})", token)
        c.advance()
        c.expect_type(TokenType.EQ, f"'=' after {name}")
        found[name] = OptionValue(options[name].read(c), token)
