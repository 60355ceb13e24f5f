"""Named points where a test can make the process die as if killed with -9.

``HEADWATER_FAILPOINT=ingest.before_commit`` kills the process there (SIGKILL, no clean-up),
so tests can check what a crash at exactly that instant leaves behind. Unset, a failpoint
costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "HEADWATER_FAILPOINT"


def hit(name: str) -> None:
    if os.environ.get(ENV_VAR) == name:
        os.kill(os.getpid(), signal.SIGKILL)
