"""The root of every error Headwater raises on purpose.

Each package has its own ``errors.py`` with subclasses. The CLI maps a
``UserError`` to exit code 2 and a ``JobFailed`` to exit code 1; anything else
is a bug and is reported as such.
"""

from __future__ import annotations


class HeadwaterError(Exception):
    """Base class. ``hint`` says what to do next, when we know."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UserError(HeadwaterError):
    """Something the user can fix: bad SQL, a bad option, a missing file. Exit code 2."""


class JobFailed(HeadwaterError):
    """A job of the pipeline failed while running. Exit code 1."""
