from __future__ import annotations

from headwater.errors import UserError


class SourceError(UserError):
    """A source cannot be read: a missing folder, an unreadable file, a malformed record."""


class NoColumns(SourceError):
    """JSON records that give no column to store: the chunk's lines are all blank (``line`` is
    None), its records have no fields, or a key is ``""`` (``empty_key``); ``line`` is the
    chunk's first such line."""

    def __init__(self, message: str, line: int | None, *, empty_key: bool = False) -> None:
        super().__init__(message)
        self.line = line
        self.empty_key = empty_key
