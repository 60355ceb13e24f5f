"""Headwater: SQL-first data pipelines on an embedded lakehouse."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.errors import HeadwaterError, JobFailed, UserError

if TYPE_CHECKING:
    from headwater.api import Project, Result

__version__ = "0.1.0"
__all__ = ["HeadwaterError", "JobFailed", "Project", "Result", "UserError", "__version__"]


def __getattr__(name: str) -> Any:
    """``Project`` and ``Result`` are imported on first use: ``import headwater`` (and so every
    ``headwater.*`` module, and the CLI's ``--help``) does not pay for the whole engine."""
    if name in ("Project", "Result"):
        from headwater import api

        return getattr(api, name)
    raise AttributeError(f"module 'headwater' has no attribute {name!r}")
