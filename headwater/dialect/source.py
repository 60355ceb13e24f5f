"""A SQL file as text and tokens: positions, excerpts, and splitting into statements."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from headwater.dialect.errors import ParseError
from headwater.dialect.nodes import Position
from headwater.dialect.sqlglot_dialect import Headwater


class SourceText:
    """The text of one file (or string) with 1-based line/column lookups by offset."""

    def __init__(self, text: str, file: str | None = None) -> None:
        self.text = text
        self.file = file
        self._line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def line_col(self, offset: int) -> tuple[int, int]:
        offset = max(0, min(offset, len(self.text)))
        index = bisect.bisect_right(self._line_starts, offset) - 1
        return index + 1, offset - self._line_starts[index] + 1

    def position(self, offset: int) -> Position:
        line, col = self.line_col(offset)
        return Position(self.file, line, col)

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : end if end >= 0 else len(self.text)].rstrip("\r")

    def excerpt(self, line: int, col: int) -> str:
        """The line before (for context), the offending line, and a caret under ``col``."""
        width = len(str(line))
        rows = []
        if line > 1:
            rows.append(f"  {line - 1:>{width}} | {self.line_text(line - 1)}")
        text = self.line_text(line)
        rows.append(f"  {line:>{width}} | {text}")
        pad = "".join("\t" if ch == "\t" else " " for ch in text[: col - 1])
        rows.append(f"  {'':>{width}} | {pad}^")
        return "\n".join(rows)

    def error(self, message: str, offset: int, hint: str | None = None) -> ParseError:
        line, col = self.line_col(offset)
        return self.error_at(message, line, col, hint)

    def error_at(self, message: str, line: int, col: int, hint: str | None = None) -> ParseError:
        return ParseError(
            message, file=self.file, line=line, col=col, excerpt=self.excerpt(line, col), hint=hint
        )

    def token_text(self, token: Token) -> str:
        """The token as written in the source (strings with their quotes)."""
        return self.text[token.start : token.end + 1]


@dataclass
class StatementTokens:
    """The tokens of one statement (without its ``;``) and where its text lies."""

    tokens: list[Token]
    start: int
    end: int  # exclusive


def tokenize(source: SourceText) -> list[Token]:
    try:
        return Headwater().tokenize(source.text)
    except TokenError as e:
        raise _token_error(source, e) from None


def split_statements(tokens: list[Token]) -> list[StatementTokens]:
    """Split on ``;`` tokens; strings and comments were already consumed by the tokenizer."""
    statements: list[StatementTokens] = []
    current: list[Token] = []
    for token in [*tokens, None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            if current:
                statements.append(StatementTokens(current, current[0].start, current[-1].end + 1))
            current = []
        else:
            current.append(token)
    return statements


def _token_error(source: SourceText, error: TokenError) -> ParseError:
    found = _find_unterminated(source.text)
    if found is not None:
        offset, what = found
        return source.error(f"unterminated {what}", offset)
    offset = error.end if error.end is not None else 0
    return source.error(f"could not read the SQL: {error}", offset)


_OPENERS = (
    ("--", "\n", None),
    ("/*", "*/", "comment: missing '*/'"),
    ("'", "'", "string: missing closing '"),
    ('"', '"', 'quoted identifier: missing closing "'),
)


def _find_unterminated(text: str) -> tuple[int, str] | None:
    """The offset and kind of the first string, identifier or comment left open."""
    i = 0
    while i < len(text):
        if text[i] == "$":
            close = text.find("$", i + 1)
            tag = text[i : close + 1] if close >= 0 else ""
            if tag and (tag == "$$" or tag[1:-1].isidentifier()):
                end = text.find(tag, close + 1)
                if end < 0:
                    return i, f"dollar-quoted string: missing closing {tag}"
                i = end + len(tag)
                continue
        for opener, closer, what in _OPENERS:
            if text.startswith(opener, i):
                end = text.find(closer, i + len(opener))
                while end >= 0 and closer in "'\"" and text.startswith(closer, end + 1):
                    end = text.find(closer, end + 2)
                if end < 0:
                    if what is None:
                        return None
                    return i, what
                i = end + len(closer)
                break
        else:
            i += 1
    return None
