from __future__ import annotations

from headwater.errors import JobFailed, UserError


class RunnerError(JobFailed):
    """A job failed while running."""


class AlreadyRunning(UserError):
    """Another `headwater run` holds this project's lock."""


class TransientError(RunnerError):
    """A failure that may go away by itself (the lake's storage could not be read or written):
    the job is tried again with backoff (``runner.retry``)."""
