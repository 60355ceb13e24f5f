"""Transient failures: tried again with exponential backoff before a job is marked failed.

An error is *transient* when it may go away by itself: an I/O error of the lake's storage or of
a source (a full or unmounted disk, a file being replaced), a lake catalog held by another
process, a transaction that conflicted with another writer. Anything else (bad SQL, bad data, a
missing column) fails the job at once: trying again would fail the same way.

``run --once`` waits and tries again in place, ``DELAYS_S`` apart; the continuous ``run`` does
not wait (the other jobs keep flowing): it skips the job until its next try is due. After the
last delay the job is marked failed with its error, and is still tried again every
``DELAYS_S[-1]`` seconds (a continuous run) or at the next run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb

from headwater.lake.errors import LakeBusy
from headwater.runner.errors import TransientError

DELAYS_S = (0.5, 1.0, 2.0, 4.0)  # between the tries of one failing job: 7.5 s in all


def is_transient(error: BaseException) -> bool:
    return isinstance(
        error, OSError | LakeBusy | TransientError | duckdb.IOException | duckdb.TransactionException
    )


@dataclass
class Backoff:
    """Each job's consecutive transient failures and when it may be tried again."""

    failures: dict[str, int] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)

    def waiting(self, job: str) -> bool:
        return time.monotonic() < self.due.get(job, 0.0)

    def failed(self, job: str) -> float | None:
        """Count a transient failure: the delay before the next try, or None once they are
        used up (the job is then marked failed, and tried again after the longest delay)."""
        n = self.failures.get(job, 0)
        self.failures[job] = n + 1
        delay = DELAYS_S[min(n, len(DELAYS_S) - 1)]
        self.due[job] = time.monotonic() + delay
        return delay if n < len(DELAYS_S) else None

    def succeeded(self, job: str) -> None:
        self.failures.pop(job, None)
        self.due.pop(job, None)
