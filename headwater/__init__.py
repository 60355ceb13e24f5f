"""Headwater: SQL-first data pipelines on an embedded lakehouse."""

from headwater.api import Project, Result
from headwater.errors import HeadwaterError, JobFailed, UserError

__version__ = "0.1.0"
__all__ = ["HeadwaterError", "JobFailed", "Project", "Result", "UserError", "__version__"]
