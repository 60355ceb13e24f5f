"""SQL embedded in Headwater statements, parsed by sqlglot, with its errors mapped to ours."""

from __future__ import annotations

import re
import typing as t

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.errors import ParseError as SqlglotParseError
from sqlglot.tokens import Token

from headwater.dialect.errors import ParseError
from headwater.dialect.sqlglot_dialect import Headwater

if t.TYPE_CHECKING:
    from headwater.dialect.cursor import Cursor

E = t.TypeVar("E", bound=exp.Expr)

_TOKEN_REPR = re.compile(
    r"<Token token_type: TokenType\.(\w+), text: .*?, line: \d+, col: \d+, start: (\d+), end: (\d+),"
    r" comments: \[.*?\]>"
)
_REQUIRED = re.compile(r"required keyword: '\w+' missing for ")
_EXPECTING = re.compile(r"expecting (.+)")


def parse_tokens(
    c: Cursor, tokens: list[Token], into: type[E], what: str, parse_as: type[exp.Expr] | None
) -> E:
    if not tokens:
        raise c.expected(what)
    parser = Headwater().parser(error_level=ErrorLevel.IMMEDIATE)
    try:
        if parse_as is None:
            results = parser.parse(tokens, c.source.text)
        else:
            results = parser.parse_into(parse_as, tokens, c.source.text)
    except SqlglotParseError as e:
        raise _from_sqlglot(c, e, tokens, what) from None
    except RecursionError:
        raise c.error(f"{what} is nested too deeply", tokens[0]) from None
    except (SqlglotError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise c.error(f"could not parse {what}: {e}", tokens[0]) from None
    result = results[0] if len(results) == 1 else None
    if not isinstance(result, into):
        raise c.expected(what, tokens[0])
    return result


def _from_sqlglot(c: Cursor, error: SqlglotParseError, tokens: list[Token], what: str) -> ParseError:
    """sqlglot's message, reworded for users, at the offending token's absolute position."""
    info = error.errors[0] if error.errors else {}
    message = str(info.get("description") or error).split("\n")[0]
    message = message[:1].lower() + message[1:] if message[:2].istitle() else message
    token = _token_at(tokens, info.get("line"), info.get("col"))
    offset = c.offset_of(token) if token is not None else tokens[0].start

    shown = _TOKEN_REPR.search(message)
    if shown is not None:
        if shown.group(1) == "SENTINEL":
            got, offset = "the end of the statement", tokens[-1].end + 1
        else:
            start, end = int(shown.group(2)), int(shown.group(3))
            got, offset = f"'{c.source.text[start : end + 1]}'", start
        message = message[: shown.start()].replace(" but got ", "").rstrip() + f", got {got}"
    elif message.startswith("invalid expression / Unexpected token"):
        message = f"unexpected {c.describe(token)} in {what}"
    elif _REQUIRED.match(message):
        message = f"{what} is incomplete after {c.describe(token)}"
    elif expecting := _EXPECTING.match(message):
        message = f"expected '{expecting.group(1)}', got {c.describe(token)}"
    return c.source.error(message, offset)


def _token_at(tokens: list[Token], line: object, col: object) -> Token | None:
    for token in tokens:
        if token.line == line and token.col == col:
            return token
    return None
