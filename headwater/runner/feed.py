"""A source followed by a thread of its own, for the continuous ``run``.

The thread keeps the source open and reads ahead into memory (at most about ``batch_bytes``:
then it waits), so a slow, idle or unreachable source never holds up another job: the commit
loop (``runner.stream``) takes what a feed has read when the job's COMMIT_INTERVAL is due,
commits it, and tells the feed (``done``). Positions only move on in the lake: if a commit
fails, or the source fails, the feed opens the source again at the lake's positions and reads
the uncommitted records again. A source that cannot be opened (broker down, topic missing) is
tried again with backoff; its error is ``error`` meanwhile.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from headwater.dialect.nodes import StartFrom
from headwater.errors import HeadwaterError
from headwater.sources.base import Positions, Source
from headwater.sources.files import FileChunk
from headwater.state.store import Progress

START_MARK = "__start__"  # (runner.ingest's: the offsets row saying START_FROM was applied)

BACKOFF_S = (1.0, 2.0, 5.0, 10.0)  # waits between attempts to open a failing source (then the last)


class Feed:
    def __init__(
        self,
        job: str,
        make: Callable[[], Source],
        committed: Positions,
        limit_bytes: int,
        wake: threading.Event,
        start_from: StartFrom | None = None,
    ) -> None:
        self.job = job
        self._make = make
        self.start_from = start_from
        self.marks: Positions | None = None  # a first run's START_FROM positions, to save
        self.committed = dict(committed)  # the lake's positions
        self.limit_bytes = limit_bytes
        self._wake = wake
        self._cond = threading.Condition()
        self._chunks: list[FileChunk] = []
        self._bytes = 0
        self._in_flight = False  # chunks taken, their commit not done yet
        self._reopen = False
        self._ack: Positions | None = None
        self._latest: dict[str, float] = {}  # partition -> time of the latest record committed
        self._caught_up: dict[str, float] = {}
        self.source: Source | None = None
        self.error: HeadwaterError | None = None
        self.error_since: float | None = None
        self.failures = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"feed-{job}", daemon=True)

    # -- the committer's side ---------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def pending(self) -> int:
        """Bytes read and not committed yet (0 with only positions to save: see ``ready``)."""
        with self._cond:
            return self._bytes

    def ready(self) -> bool:
        with self._cond:
            return bool(self._chunks) and not self._in_flight

    def marks_saved(self) -> None:
        with self._cond:
            if self.marks is not None:
                self.committed.update(self.marks)
            self.marks = None
            self._cond.notify_all()

    def take(self) -> list[FileChunk]:
        """Everything read so far, for one commit; ``done`` must follow."""
        with self._cond:
            chunks, self._chunks, self._bytes = self._chunks, [], 0
            self._in_flight = bool(chunks)
            self._cond.notify_all()
            return chunks

    def done(self, positions: Positions | None, chunks: list[FileChunk] = ()) -> None:  # type: ignore[assignment]
        """The taken chunks committed up to ``positions`` — or, with None, did not: the feed
        reads them again from the lake's positions."""
        now = time.time()
        with self._cond:
            self._in_flight = False
            if positions is None:
                self._reopen = True
                self._chunks, self._bytes = [], 0
            else:
                self.committed.update(positions)
                self._ack = dict(positions)
                for chunk in chunks:
                    for partition, at in chunk.stamps:
                        self._latest[partition] = max(at, self._latest.get(partition, 0.0))
            self._cond.notify_all()
        if positions is not None:
            self.lag(now)  # (notes when partitions were caught up)

    def close(self, timeout: float = 10.0) -> None:
        """Stop reading. A thread still blocked on an unreachable broker after ``timeout`` is
        left to end with the process (it holds nothing the lake needs)."""
        self.stop.set()
        with self._cond:
            self._cond.notify_all()
        if self.thread.is_alive():
            self.thread.join(timeout=timeout)

    # -- status -----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        source = self.source
        return source is not None and bool(getattr(source, "connected", True)) and self.error is None

    def connection(self) -> str:
        if self.error is not None:
            return "retrying"  # (after BACKOFF_S; ``error`` says why)
        source = self.source
        if source is None:
            return "connecting"
        return "connected" if getattr(source, "connected", True) else "reconnecting"

    def _ends(self) -> dict[str, int]:
        source = self.source
        if source is None:
            return {}
        name = getattr(source, "name", str)
        return {name(p): int(end) for p, end in dict(getattr(source, "ends", {})).items()}

    def lag(self, now: float | None = None) -> dict[str, Progress]:
        """Per partition: end offset, records behind the lake's position and for how long
        (the age of the latest record committed; 0 when nothing is behind)."""
        return self._progress(self.committed, self._latest, time.time() if now is None else now)

    def projected(self, chunks: list[FileChunk]) -> dict[str, Progress]:
        """The ``lag`` once ``chunks`` are committed (saved in the same transaction)."""
        positions = dict(self.committed)
        latest = dict(self._latest)
        for chunk in chunks:
            for partition, at in chunk.positions():
                positions[partition] = (at.offset, at.line)
            for partition, t in chunk.stamps:
                latest[partition] = max(t, latest.get(partition, 0.0))
        return self._progress(positions, latest, time.time())

    def _progress(self, positions: Positions, latest: dict[str, float], now: float) -> dict[str, Progress]:
        ends = self._ends()
        state = self.connection()
        out: dict[str, Progress] = {}
        for partition in sorted(set(positions) | set(ends)):
            if partition.startswith("__"):
                continue
            at = positions.get(partition, (0, 0))[0]
            end = ends.get(partition)
            behind = None if end is None else max(0, end - at)
            if behind == 0:
                self._caught_up[partition] = now
                seconds: float | None = 0.0
            else:
                since = latest.get(partition) or self._caught_up.get(partition)
                seconds = None if since is None else round(max(0.0, now - since), 3)
            out[partition] = Progress(end, behind, seconds, state)
        return out

    # -- the thread -------------------------------------------------------------------------
    def _run(self) -> None:
        attempt = 0
        while not self.stop.is_set():
            source: Source | None = None
            try:
                with self._cond:
                    while self._in_flight and not self.stop.is_set():
                        self._cond.wait(0.2)
                    self._chunks, self._bytes, self._reopen = [], 0, False
                    at = dict(self.committed)
                source = self._make()
                if START_MARK not in at:  # the job's first run: where START_FROM says
                    self._first_positions(source)
                    at = dict(self.committed)
                source.open(at)
                self.source, self.error, self.error_since = source, None, None
                attempt = 0
                self._follow(source)
            except HeadwaterError as e:
                self._failed(e)
            except Exception as e:  # a client library's own error: reported, then tried again
                self._failed(HeadwaterError(f"job {self.job}: reading its source failed: {e}"))
            finally:
                self.source = None
                if source is not None:
                    with contextlib.suppress(Exception):
                        source.close()
            if self.error is not None and not self.stop.is_set():
                self.stop.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                attempt += 1

    def _first_positions(self, source: Source) -> None:
        marks = {START_MARK: (0, 0), **source.start(self.start_from)}
        with self._cond:
            self.marks = marks
            self._wake.set()
            while self.marks is not None and not self.stop.is_set():  # until the lake has them
                self._cond.wait(0.2)

    def _failed(self, error: HeadwaterError) -> None:
        if self.error is None or str(self.error) != str(error):
            self.error_since = time.time()
        self.error = error
        self.failures += 1
        self._wake.set()

    def _follow(self, source: Source) -> None:
        follow = getattr(source, "follow", None)
        assert callable(follow), f"{type(source).__name__} cannot be followed"
        for chunk in follow(self.stop):
            with self._cond:
                if self._reopen:
                    return
                if chunk is not None:
                    self._chunks.append(chunk)
                    self._bytes += chunk.nbytes
                    if self._bytes >= self.limit_bytes:
                        self._wake.set()
                ack, self._ack = self._ack, None
                while self._bytes >= self.limit_bytes and not (self.stop.is_set() or self._reopen):
                    self._cond.wait(0.2)  # read ahead no further until a commit takes these
            if ack:
                source.committed(ack)
