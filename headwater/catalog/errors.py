from __future__ import annotations

from headwater.dialect.nodes import Position
from headwater.errors import UserError


class CatalogError(UserError):
    """The statements parse but do not fit together (unknown names, duplicates, cycles)."""

    def __init__(self, message: str, *, pos: Position | None = None, hint: str | None = None) -> None:
        self.pos = pos
        super().__init__(f"{pos}: {message}" if pos else message, hint=hint)
