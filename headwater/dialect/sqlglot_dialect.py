"""The Headwater SQL dialect: DuckDB plus the ``$`` system columns.

In DuckDB ``$name`` is a prepared-statement parameter. In Headwater SQL the system
columns (``$event_time``, ``$commit_time``, ...) are ordinary columns, so the tokenizer
turns ``$event_time`` into a quoted identifier token. Everything downstream sees
``exp.Column(this=exp.Identifier(this="$event_time", quoted=True))``, which DuckDB
prints as ``"$event_time"`` and this dialect prints back as ``$event_time``.

Any other ``$name`` is rejected with the list of system columns; positional
parameters (``$1``) keep their DuckDB meaning.
"""

from __future__ import annotations

import difflib
import re
import typing as t

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.generators.duckdb import DuckDBGenerator
from sqlglot.parsers.duckdb import DuckDBParser
from sqlglot.tokenizer_core import TokenizerCore
from sqlglot.tokens import Token, TokenType

from headwater.dialect.nodes import CDC_COLUMNS, KAFKA_COLUMNS, SYSTEM_COLUMNS

ALL_SYSTEM_COLUMNS: tuple[str, ...] = SYSTEM_COLUMNS + KAFKA_COLUMNS + CDC_COLUMNS
_SYSTEM_COLUMN_SET = frozenset(ALL_SYSTEM_COLUMNS)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_system_column(name: str) -> bool:
    return name in _SYSTEM_COLUMN_SET


def unknown_system_column_message(name: str) -> str:
    """The error for ``$name`` that is not a system column, with the closest match."""
    message = f"unknown system column '{name}'; the system columns are {', '.join(ALL_SYSTEM_COLUMNS)}"
    close = difflib.get_close_matches(name.lower(), ALL_SYSTEM_COLUMNS, n=1)
    if close:
        message += f" (did you mean {close[0]}?)"
    return message


def _merge_system_columns(tokens: list[Token]) -> list[Token]:
    """Fuse ``$`` + an adjacent word naming a system column into one quoted identifier."""
    merged: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if (
            token.token_type == TokenType.PARAMETER
            and token.text == "$"
            and nxt is not None
            and nxt.start == token.end + 1
            and _WORD.fullmatch(nxt.text)
            and is_system_column("$" + nxt.text.lower())
        ):
            merged.append(
                Token(
                    TokenType.IDENTIFIER,
                    "$" + nxt.text.lower(),
                    line=nxt.line,
                    col=nxt.col,
                    start=token.start,
                    end=nxt.end,
                    comments=[*token.comments, *nxt.comments],
                )
            )
            i += 2
            continue
        merged.append(token)
        i += 1
    return merged


class _TokenizerCore(TokenizerCore):
    """DuckDB's tokenizer, except that ``$`` opens a dollar-quoted string only when a valid
    tag follows (``$$`` or ``$name$``). sqlglot takes any text up to the next ``$`` as the
    tag, so ``$source,$run_id`` read as an unterminated string tagged ``source,``."""

    __slots__ = ()

    def _scan_string(self, start: str) -> bool:
        if start == "$":
            close = self.sql.find("$", self._current)
            if close < 0 or (close > self._current and not self.sql[self._current : close].isidentifier()):
                self._add(TokenType.PARAMETER)  # no closing $, or no valid tag before it
                return True
        return bool(super()._scan_string(start))


class Headwater(DuckDB):
    """DuckDB, in which the system columns can be written bare: ``o.$commit_time``."""

    class Tokenizer(DuckDB.Tokenizer):
        def _init_core(self) -> TokenizerCore:
            core = super()._init_core()
            core.__class__ = _TokenizerCore
            return core

        def tokenize(self, sql: str) -> list[Token]:
            return _merge_system_columns(super().tokenize(sql))

    class Parser(DuckDBParser):
        def _parse_dollar(self) -> exp.Expr | None:
            nxt = self._curr
            if (
                nxt is not None
                and nxt.start == self._prev.end + 1
                and nxt.token_type != TokenType.NUMBER
                and _WORD.fullmatch(nxt.text)
            ):
                self.raise_error(unknown_system_column_message("$" + nxt.text), nxt)
            placeholder = DuckDBParser.PLACEHOLDER_PARSERS[TokenType.PARAMETER]
            return t.cast("exp.Expr | None", placeholder(self))

        PLACEHOLDER_PARSERS = {
            **DuckDBParser.PLACEHOLDER_PARSERS,
            TokenType.PARAMETER: _parse_dollar,
        }

    class Generator(DuckDBGenerator):
        # Print what was written, so that printing and parsing again gives the same tree.
        TRANSFORMS = {
            **DuckDBGenerator.TRANSFORMS,
            exp.LogicalOr: lambda self, e: self.func("BOOL_OR", e.this),
            exp.LogicalAnd: lambda self, e: self.func("BOOL_AND", e.this),
        }

        def identifier_sql(self, expression: exp.Identifier) -> str:
            if expression.quoted and is_system_column(expression.name):
                return expression.name
            return super().identifier_sql(expression)
