"""Ingestion from a source plug (``headwater.sources.base.Source``): open it at the lake's
positions, add its chunks to batches, commit each batch (rows, quarantine, counts and the new
positions in one lake transaction: ``Batch.commit``), then tell the source."""

from __future__ import annotations

from headwater.catalog.model import Entry
from headwater.dialect.nodes import CreateIngestJob
from headwater.runner.context import RunContext, expand_env
from headwater.runner.ingest import START_MARK, Batch, TargetSchema
from headwater.sources.base import Source
from headwater.state import store


def open_source(ctx: RunContext, stmt: CreateIngestJob) -> Source:
    """The source of a job whose connection is not a files one."""
    conn = ctx.catalog.connections[stmt.source.connection]
    assert conn.kind == "KAFKA" and stmt.source.topic is not None
    from headwater.catalog.sources import hosts, properties
    from headwater.sources.kafka import KafkaSource

    text = conn.options.get("CONSUMER_PROPERTIES")
    props = properties(text, f"connection {conn.name}") if isinstance(text, str) else {}
    props = {k: expand_env(v, what=f"connection {conn.name} ({k})") for k, v in props.items()}
    header = None
    if stmt.options.content_type == "CSV":  # no header: the declared columns, in order
        declared = ctx.catalog.tables.get(str(stmt.target))
        header = [c.name for c in declared.columns] if declared else []
    return KafkaSource(
        stmt.name,
        conn.name,
        tuple(expand_env(h, what=f"connection {conn.name} (HOSTS)") for h in hosts(conn)),
        props,
        stmt.source.topic,
        ctx.settings.run.batch_bytes,
        header,
        stmt.options.on_retention_gap,
    )


def run_source(ctx: RunContext, entry: Entry, source: Source) -> int:
    """Drain the job's source plug. Returns the rows written."""
    stmt = entry.statement
    assert isinstance(stmt, CreateIngestJob)
    try:
        offsets = store.load_offsets(ctx.lake, stmt.name)
        if START_MARK not in offsets:  # the job's first run: where START_FROM says
            marks = {START_MARK: (0, 0), **source.start(stmt.options.start_from)}
            with ctx.lake.transaction():
                store.save_offsets(ctx.lake, stmt.name, marks, store.utcnow())
            offsets.update(marks)
        source.open(offsets)
        schema = TargetSchema.of(ctx, stmt)
        written = 0
        batch: Batch | None = None
        try:
            for chunk in source.poll(drain=ctx.drain):
                if batch is not None and batch.nbytes + chunk.nbytes > ctx.settings.run.batch_bytes:
                    written += batch.commit(gaps=source.gaps)  # (never past batch_bytes)
                    source.committed(batch.positions)
                    batch = None
                    if ctx.stop.is_set():
                        return written
                if batch is None:
                    batch = Batch(ctx, entry, schema)
                batch.add(chunk)
                if batch.nbytes >= ctx.settings.run.batch_bytes:
                    written += batch.commit(gaps=source.gaps)
                    source.committed(batch.positions)
                    batch = None
                    if ctx.stop.is_set():
                        return written
            if source.gaps:  # skipped to where nothing more came: move there, with the gaps
                batch = batch or Batch(ctx, entry, schema)
                for gap in source.gaps:
                    at = max(gap.last + 1, batch.positions.get(gap.partition, (0, 0))[0])
                    batch.positions[gap.partition] = (at, at)
            if batch is not None:
                written += batch.commit(gaps=source.gaps)
                source.committed(batch.positions)
                batch = None
        finally:
            if batch is not None:
                batch.rollback()
        return written
    finally:
        source.close()
