"""Reading ahead: the next chunk is read and split in a thread while the current one is being
processed (file reads and numpy release the GIL; DuckDB releases it while it runs)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order, producing up to ``depth`` of them ahead in a thread. An error
    in the producer is raised here; closing the generator early stops the producer."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    done = threading.Event()

    def put(item: object) -> bool:
        while not done.is_set():
            try:
                slots.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as e:  # handed to the consumer, which raises it
            put(_Failure(e))

    worker = threading.Thread(target=produce, name="headwater-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
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
