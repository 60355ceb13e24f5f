from __future__ import annotations

from headwater.errors import JobFailed, UserError


class RunnerError(JobFailed):
    """A job failed while running."""


class AlreadyRunning(UserError):
    """Another `headwater run` holds this project's lock."""
