from __future__ import annotations

from headwater.errors import UserError


class SourceError(UserError):
    """A source cannot be read: a missing folder, an unreadable file, a malformed record."""
