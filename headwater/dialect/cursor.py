"""A cursor over one statement's tokens: keyword matching, names, and embedded SQL."""

from __future__ import annotations

import re
import typing as t
from collections.abc import Callable

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from headwater.dialect.embedded import parse_tokens
from headwater.dialect.errors import ParseError
from headwater.dialect.nodes import Position, TableName
from headwater.dialect.source import SourceText, StatementTokens

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERALS = frozenset(
    {
        TokenType.STRING,
        TokenType.IDENTIFIER,
        TokenType.NUMBER,
        TokenType.HEREDOC_STRING,
        TokenType.NATIONAL_STRING,
        TokenType.BYTE_STRING,
        TokenType.RAW_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.UNICODE_STRING,
    }
)
_OPEN = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE})
_CLOSE = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE})
DEFAULT_SCHEMA = "main"

E = t.TypeVar("E", bound=exp.Expr)


def token_words(token: Token) -> list[str]:
    """The upper-cased keyword(s) a token spells (``PRIMARY KEY`` is one token), or []."""
    if token.token_type in _LITERALS:
        return []
    words = token.text.upper().split()
    return words if words and all(_WORD.fullmatch(w) for w in words) else []


class Cursor:
    def __init__(self, source: SourceText, statement: StatementTokens) -> None:
        self.source = source
        self.statement = statement
        self.tokens = statement.tokens
        self.i = 0

    @property
    def pos(self) -> Position:
        """Where the statement starts."""
        return self.source.position(self.statement.start)

    @property
    def text(self) -> str:
        """The statement's SQL as written (without its ``;``)."""
        return self.source.text[self.statement.start : self.statement.end]

    # -- looking -------------------------------------------------------------------------
    @property
    def current(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def peek(self, ahead: int = 0) -> Token | None:
        j = self.i + ahead
        return self.tokens[j] if 0 <= j < len(self.tokens) else None

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)

    def _span(self, words: tuple[str, ...], start: int) -> int | None:
        """How many tokens spell ``words`` from token ``start``, or None."""
        want = list(words)
        j = start
        while want:
            if j >= len(self.tokens):
                return None
            got = token_words(self.tokens[j])
            if not got or got != want[: len(got)]:
                return None
            want = want[len(got) :]
            j += 1
        return j - start

    def at(self, *words: str, ahead: int = 0) -> bool:
        return self._span(words, self.i + ahead) is not None

    def at_type(self, token_type: TokenType, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token is not None and token.token_type == token_type

    def word(self) -> str | None:
        """The single upper-cased keyword at the cursor, if it is one."""
        token = self.current
        words = token_words(token) if token else []
        return words[0] if len(words) == 1 else None

    # -- consuming -----------------------------------------------------------------------
    def advance(self) -> Token:
        token = self.current
        if token is None:
            raise self.expected("more")
        self.i += 1
        return token

    def match(self, *words: str) -> bool:
        span = self._span(words, self.i)
        if span is None:
            return False
        self.i += span
        return True

    def expect(self, *words: str, what: str | None = None) -> Token:
        token = self.current
        if not self.match(*words):
            raise self.expected(what or " ".join(words))
        assert token is not None
        return token

    def match_type(self, token_type: TokenType) -> Token | None:
        token = self.current
        if token is not None and token.token_type == token_type:
            self.i += 1
            return token
        return None

    def expect_type(self, token_type: TokenType, what: str) -> Token:
        token = self.match_type(token_type)
        if token is None:
            raise self.expected(what)
        return token

    def expect_end(self, what: str) -> None:
        if not self.at_end():
            raise self.expected(what)

    # -- errors --------------------------------------------------------------------------
    def describe(self, token: Token | None) -> str:
        if token is None:
            return "the end of the statement"
        text = self.source.token_text(token)
        return text if text[:1] in ("'", '"') else f"'{text}'"

    def offset_of(self, token: Token | None) -> int:
        if token is not None:
            return token.start
        return self.statement.end

    def error(self, message: str, token: Token | None = None, hint: str | None = None) -> ParseError:
        if token is None:
            token = self.current
        return self.source.error(message, self.offset_of(token), hint)

    def expected(self, what: str, token: Token | None = None, hint: str | None = None) -> ParseError:
        if token is None:
            token = self.current
        return self.error(f"expected {what}, got {self.describe(token)}", token, hint)

    # -- names ---------------------------------------------------------------------------
    def identifier(self, what: str, lower: bool) -> str:
        """One name; unquoted names are lower-cased when ``lower`` (DuckDB folds them)."""
        token = self.current
        if token is not None and token.token_type == TokenType.IDENTIFIER:
            self.i += 1
            return token.text
        if token is not None and len(token_words(token)) == 1 and token_words(token) != ["AS"]:
            self.i += 1
            return token.text.lower() if lower else token.text
        hint = None
        if token is not None and token.token_type == TokenType.STRING:
            hint = f'names are not strings: write {token.text} or "{token.text}"'
        raise self.expected(what, hint=hint)

    def name(self, what: str) -> str:
        """A job, connection, expectation or schema name."""
        return self.identifier(what, lower=True)

    def dotted(self, what: str, lower: bool) -> list[str]:
        parts = [self.identifier(what, lower)]
        while self.match_type(TokenType.DOT):
            parts.append(self.identifier(what, lower))
        return parts

    def column_path(self, what: str = "a column name") -> str:
        """A column, or a dotted path into nested fields (``customer.email``); kept as written."""
        return ".".join(self.dotted(what, lower=False))

    def table_name(self, what: str = "a table name") -> TableName:
        token = self.current
        parts = self.dotted(what, lower=True)
        if len(parts) > 2:
            raise self.error(f"expected a table name like 'schema.table', got '{'.'.join(parts)}'", token)
        if len(parts) == 1:
            return TableName(DEFAULT_SCHEMA, parts[0])
        return TableName(parts[0], parts[1])

    def parenthesised(self, item: Callable[[], object], what: str) -> list[t.Any]:
        """``( item, item, ... )``, at least one item."""
        self.expect_type(TokenType.L_PAREN, f"'(' to start {what}")
        items = [item()]
        while self.match_type(TokenType.COMMA):
            items.append(item())
        self.expect_type(TokenType.R_PAREN, f"',' or ')' in {what}")
        return items

    # -- embedded SQL --------------------------------------------------------------------
    def take_until(self, stop: Callable[[], bool]) -> list[Token]:
        """Consume tokens up to (not including) the first one, outside brackets, where ``stop()``."""
        start = self.i
        depth = 0
        while not self.at_end():
            token = self.tokens[self.i]
            if depth == 0 and (stop() or token.token_type in _CLOSE):
                break
            if token.token_type in _OPEN:
                depth += 1
            elif token.token_type in _CLOSE:
                depth -= 1
            self.i += 1
        return self.tokens[start : self.i]

    def sql(
        self,
        tokens: list[Token],
        into: type[E],
        what: str,
        parse_as: type[exp.Expr] | None = exp.Condition,
    ) -> E:
        """Parse ``tokens`` with the Headwater dialect into one ``into`` node.

        ``parse_as`` picks sqlglot's parser for a part of a statement (an expression,
        a data type); None parses a whole statement.
        """
        return parse_tokens(self, tokens, into, what, parse_as)
