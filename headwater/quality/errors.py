from __future__ import annotations

from headwater.errors import JobFailed, UserError


class JobStopped(JobFailed):
    """An ABORT expectation or ON_SCHEMA_CHANGE = FAIL stopped a job; nothing of the batch was
    committed. The job stays failed until `headwater resume JOB`."""


class QualityError(UserError):
    """A transformation, expectation or dedupe setting cannot be applied as written."""
