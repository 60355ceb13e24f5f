"""Reading ahead keeps order, hands the producer's errors to the consumer, and stops early."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from headwater.sources.prefetch import prefetch


def test_items_arrive_in_order() -> None:
    assert list(prefetch(iter(range(1000)))) == list(range(1000))


def test_an_error_in_the_producer_is_raised_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("disk on fire")

    got = []
    with pytest.raises(ValueError, match="disk on fire"):
        for item in prefetch(items()):
            got.append(item)
    assert got == [1, 2]


def test_closing_early_stops_the_producer() -> None:
    produced = []

    def items() -> Iterator[int]:
        for i in range(1_000_000):
            produced.append(i)
            yield i

    stream = prefetch(items(), depth=1)
    assert next(stream) == 0
    stream.close()
    settled = len(produced)
    time.sleep(0.2)
    assert len(produced) == settled < 10
    assert not any(t.name == "headwater-prefetch" for t in threading.enumerate())


def test_it_reads_ahead_while_the_consumer_works() -> None:
    started = threading.Event()

    def items() -> Iterator[int]:
        yield 0
        started.set()  # asked for the next item before the consumer took it
        yield 1

    stream = prefetch(items())
    assert next(stream) == 0
    assert started.wait(2)
    assert list(stream) == [1]


def test_a_large_item_is_not_read_past_until_the_next_is_asked_for() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for n in (1, 100, 2, 3, 100, 4):
            produced.append(n)
            yield n

    seen = []
    for item in prefetch(items(), ahead=lambda n: n < 50):
        time.sleep(0.1)  # (time for the producer to run ahead, if it would)
        seen.append((item, list(produced)))
    # While 100 is used, nothing after it is read; past a small item, one is read (and waits):
    # never two.
    assert seen[1] == (100, [1, 100])
    assert seen[4] == (100, [1, 100, 2, 3, 100])
    assert seen[2][1] == [1, 100, 2, 3]
    assert seen[3][1] == [1, 100, 2, 3, 100]
    assert [item for item, _ in seen] == [1, 100, 2, 3, 100, 4]
