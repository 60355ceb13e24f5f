"""What the runner needs of a source, whatever it reads (``headwater.runner.drain``).

A source is opened at the positions the lake committed for its job, yields chunks of records
(Arrow: ``__hw_line`` plus one raw text per record in ``__hw_raw``, or parsed columns) each
with the positions its partitions reach once the chunk is committed, and is told when a batch
has committed. Positions are ``partition -> (position, line)`` as ``system.offsets`` keeps them.
The runner, the quality checks and the commit (``runner.ingest.Batch``) know nothing else of a
source: a chunk's ``$source`` texts come from ``chunk.sources`` and its system columns (such as
``$kafka_key``) from ``chunk.system``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from headwater.dialect.nodes import StartFrom
from headwater.sources.files import FileChunk
from headwater.state.store import Gap

Positions = dict[str, tuple[int, int]]


class Source(Protocol):
    # Offsets the source went past without reading them (deleted before they were read, and
    # the job accepts it), until a commit records them: the runner passes the list to
    # ``Batch.commit``, which records each gap with the positions that go past it.
    gaps: list[Gap]

    def start(self, start_from: StartFrom | None) -> Positions:
        """On a job's first run: the positions START_FROM names (nothing read yet)."""
        ...

    def open(self, committed: Positions) -> None:
        """Be ready to read on from ``committed``; fail (SourceError) if it cannot."""
        ...

    def poll(self, *, drain: bool) -> Iterator[FileChunk]:
        """Chunks of new records; ``drain``: up to the end as of ``open``, then stop."""
        ...

    def committed(self, positions: Positions) -> None:
        """The lake has committed a batch that reached ``positions``."""
        ...

    def lag(self) -> dict[str, int]:
        """Records not read yet, per partition."""
        ...

    def close(self) -> None: ...
