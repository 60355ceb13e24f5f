from __future__ import annotations

from headwater.errors import UserError


class ParseError(UserError):
    """A statement could not be parsed. Carries the place and a highlighted excerpt."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None,
        line: int,
        col: int,
        excerpt: str = "",
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.col = col
        self.excerpt = excerpt
        where = f"{file or '<sql>'}:{line}:{col}"
        text = f"{where}: {message}"
        if excerpt:
            text += "\n" + excerpt
        super().__init__(text, hint=hint)
        self.reason = message
