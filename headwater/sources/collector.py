"""Python's garbage collector, kept out of the way of record-heavy work.

A Kafka consume() turns every message into several Python objects (the message, its timestamp
tuple, its headers), and the collector runs every few hundred of them, each run walking the
young objects, and now and then every object of the process (sqlglot's trees, the modules).
None of these objects is ever part of a reference cycle: reference counting frees them. So
the collector is paused while they are made (``paused``), and what the runner built before its
first batch (``frozen``) is left out of the collector's walks while it runs.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_pausing = 0  # threads inside ``paused``
_was_enabled = True


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No collection inside the block (in any thread: the collector is process-wide); as it
    was when the last thread leaves."""
    global _pausing, _was_enabled
    with _lock:
        if _pausing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _lock:
            _pausing -= 1
            if _pausing == 0 and _was_enabled:
                gc.enable()


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """The objects alive now are not walked by collections inside the block (``gc.freeze``);
    they are again after it."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
