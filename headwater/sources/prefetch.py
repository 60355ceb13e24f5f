"""Reading ahead: the next chunk is read and split in a thread while the current one is being
processed (file reads and numpy release the GIL; DuckDB releases it while it runs)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterator[T], depth: int = 1, *, ahead: Callable[[T], bool] | None = None) -> Iterator[T]:
    """Yield ``items`` in order, producing up to ``depth`` of them ahead in a thread. An error
    in the producer is raised here; closing the generator early stops the producer. ``ahead``:
    whether to read on past an item while it is being used (no, for a large one: the next
    would be held in memory beside it; the producer then waits until the item after it is
    asked for). An item is read only when there is room for it: at most ``depth`` items are
    ever read and not yet taken."""
    slots: queue.Queue[object] = queue.Queue()
    room = threading.Semaphore(depth)  # taken before an item is read: at most depth ahead
    done = threading.Event()
    asked = threading.Condition()
    count = [0]  # items asked for so far

    def wait_room() -> bool:
        while not done.is_set():
            if room.acquire(timeout=0.05):
                return True
        return False

    def put(item: object) -> bool:
        slots.put(item)
        return not done.is_set()

    def produce() -> None:
        try:
            n = 0
            while wait_room():
                try:
                    item = next(items)
                except StopIteration:
                    break
                n += 1
                if not put(item):
                    return
                if ahead is not None and not ahead(item):
                    with asked:
                        while count[0] <= n and not done.is_set():
                            asked.wait(0.05)
            put(_END)
        except BaseException as e:  # handed to the consumer, which raises it
            put(_Failure(e))

    worker = threading.Thread(target=produce, name="headwater-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            with asked:
                count[0] += 1
                asked.notify()
            item = slots.get()
            room.release()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        done.set()
        worker.join()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
