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

from sqlglot import exp

from headwater.dialect.nodes import KAFKA_COLUMNS, CreateConnection, CreateIngestJob, StartFrom
from headwater.sources.files import FileChunk

Positions = dict[str, tuple[int, int]]


class Source(Protocol):
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


def system_columns_used(stmt: CreateIngestJob) -> set[str]:
    """The source system columns ($kafka_key...) that a job's options and expectations name."""
    opts = stmt.options
    trees: list[exp.Expression] = [t.expression for t in opts.column_transformations]
    trees += [e.predicate for e in stmt.expectations]
    if opts.event_time is not None:
        trees.append(opts.event_time)
    names = {c.name for tree in trees for c in tree.find_all(exp.Column)}
    names |= {t.target.split(".")[0] for t in opts.column_transformations}
    names |= {c.split(".")[0] for c in (opts.deduplicate_with.columns if opts.deduplicate_with else [])}
    return {n for n in names if n in KAFKA_COLUMNS}


def check_source(stmt: CreateIngestJob, conn: CreateConnection, columns: list[str]) -> tuple[str, str] | None:
    """What is wrong with a job's COPY FROM for its connection's kind: (message, hint), or None.
    ``columns``: those its target table declares. Needs no server: `validate` and `plan` run it."""
    source = stmt.source
    if conn.kind == "KAFKA":
        from headwater.sources.kafka_settings import check_kafka_job

        return check_kafka_job(stmt, conn, columns)
    if source.topic is not None:
        return (
            f"job {stmt.name!r}: TOPIC is for Kafka connections; {conn.name} is a {conn.kind} connection",
            "remove TOPIC, or copy from a KAFKA connection",
        )
    used = system_columns_used(stmt)
    if used:
        return (
            f"job {stmt.name!r} uses {', '.join(sorted(used))}, which only tables fed from Kafka have",
            "remove it, or copy from a KAFKA connection",
        )
    return None
