"""The collector is paused while any thread is inside ``paused``, and as it was after."""

from __future__ import annotations

import gc
import threading

from headwater.sources.collector import frozen, paused


def test_paused_nests_across_threads_and_restores() -> None:
    assert gc.isenabled()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with paused():
            inside.set()
            leave.wait(5)

    t = threading.Thread(target=other)
    with paused():
        assert not gc.isenabled()
        t.start()
        assert inside.wait(5)
    assert not gc.isenabled()  # the other thread is still inside
    leave.set()
    t.join(5)
    assert gc.isenabled()


def test_paused_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_frozen_objects_are_walked_again_after() -> None:
    before = gc.get_freeze_count()
    with frozen():
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == before
