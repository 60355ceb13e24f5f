"""Ingestion jobs: read a source from its committed position, commit rows + new position together."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from headwater.catalog.model import Entry
from headwater.dialect import to_duckdb
from headwater.dialect.nodes import CreateIngestJob
from headwater.lake import qualified, quote
from headwater.lake.tables import describe, ensure_table, user_columns
from headwater.observe.events import BatchCommitted
from headwater.runner.context import RunContext, expand_env
from headwater.runner.errors import RunnerError
from headwater.sources.decode import Decoded, decode
from headwater.sources.files import LINE_COLUMN, FileChunk, FilePosition, FilesSource
from headwater.state import store

START_MARK = "__start__"  # offsets row recording that START_FROM was applied


@dataclass
class Pending:
    chunks: list[tuple[FileChunk, Decoded]] = field(default_factory=list)
    nbytes: int = 0

    def add(self, chunk: FileChunk, decoded: Decoded) -> None:
        self.chunks.append((chunk, decoded))
        self.nbytes += chunk.nbytes


def files_source(ctx: RunContext, stmt: CreateIngestJob) -> FilesSource:
    conn = ctx.catalog.connections[stmt.source.connection]
    raw = conn.options["PATH"]
    assert isinstance(raw, str)
    path_text = expand_env(raw, what=f"connection {conn.name}")
    root = Path(path_text)
    if not root.is_absolute():
        root = ctx.project_dir / root
    return FilesSource(
        root, path_text, stmt.source.pattern, stmt.options.content_type, ctx.settings.run.batch_bytes
    )


def _start_positions(
    ctx: RunContext, stmt: CreateIngestJob, source: FilesSource
) -> dict[str, tuple[int, int]]:
    """On a job's first run, START_FROM = NOW skips what exists; a timestamp skips older files."""
    start = stmt.options.start_from
    marks: dict[str, tuple[int, int]] = {START_MARK: (0, 0)}
    if start is None or start.kind == "BEGINNING":
        return marks
    cutoff = time.time() if start.kind == "NOW" else datetime.fromisoformat(str(start.timestamp)).timestamp()
    for path in source.files():
        st = path.stat()
        if st.st_mtime < cutoff:
            lines = _count_lines(path) if start.kind == "NOW" else 0
            marks[source.partition_of(path)] = (st.st_size, lines + 1)
    return marks


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))


def run_ingest(ctx: RunContext, entry: Entry) -> int:
    """Drain the job's source. Returns the rows written."""
    stmt: CreateIngestJob = entry.statement  # type: ignore[assignment]
    assert stmt.target is not None
    source = files_source(ctx, stmt)
    offsets = store.load_offsets(ctx.lake, stmt.name)
    if START_MARK not in offsets:
        marks = _start_positions(ctx, stmt, source)
        with ctx.lake.transaction():
            store.save_offsets(ctx.lake, stmt.name, marks, store.utcnow())
        offsets.update(marks)
    positions = {p: FilePosition(o, line) for p, (o, line) in offsets.items()}
    table_types = user_columns(
        ctx.lake.columns(stmt.target.schema, stmt.target.name)
        if ctx.lake.table_exists(stmt.target.schema, stmt.target.name)
        else {}
    )
    written = 0
    pending = Pending()
    started = time.monotonic()
    for chunk in source.poll(positions, drain=ctx.drain):
        decoded = decode(ctx.lake.con, chunk, table_types)
        if decoded.malformed.num_rows:
            first = decoded.malformed.slice(0, 1).to_pylist()[0]
            raise RunnerError(
                f"job {stmt.name}: {chunk.partition}:{first[LINE_COLUMN]}: {first['reason']}; "
                f"expected one JSON object per line",
                hint="fix the line, then run again: the job resumes at this record",
            )
        for col, typ in describe_arrow(ctx, decoded.table).items():
            table_types.setdefault(col, typ)
        pending.add(chunk, decoded)
        if pending.nbytes >= ctx.settings.run.batch_bytes:
            written += _commit(ctx, stmt, pending, started)
            pending, started = Pending(), time.monotonic()
    if pending.chunks:
        written += _commit(ctx, stmt, pending, started)
    return written


def describe_arrow(ctx: RunContext, table: pa.Table) -> dict[str, str]:
    ctx.lake.con.register("hw_describe", table)
    try:
        return describe(ctx.lake.con.sql("SELECT * FROM hw_describe LIMIT 0"), skip=[LINE_COLUMN])
    finally:
        ctx.lake.con.unregister("hw_describe")


def _commit(ctx: RunContext, stmt: CreateIngestJob, pending: Pending, started: float) -> int:
    assert stmt.target is not None
    lake = ctx.lake
    target = stmt.target
    run = store.RunRecord(stmt.name, ctx.new_run_id(), store.utcnow())
    commit_time = store.next_commit_time(lake, [str(target)])
    positions: dict[str, tuple[int, int]] = {}
    with lake.transaction():
        for i, (chunk, decoded) in enumerate(pending.chunks):
            view = f"hw_batch_{i}"
            lake.con.register(view, decoded.table)
            try:
                columns = describe_arrow(ctx, decoded.table)
                data_columns = {c: t for c, t in columns.items() if not c.startswith("$")}
                ensure_table(lake, target, data_columns)
                select = _select(stmt, view, chunk.partition, columns, commit_time, run.run_id)
                try:
                    lake.execute(f"INSERT INTO {qualified(target.schema, target.name)} BY NAME {select}")
                except Exception as e:
                    raise RunnerError(
                        f"job {stmt.name}: cannot write {chunk.partition} (lines {chunk.start.line}-"
                        f"{chunk.end.line - 1}) into {target}: {str(e).strip()}",
                        hint="fix the data or the table's declared column types, then run again",
                    ) from None
            finally:
                lake.con.unregister(view)
            run.rows_read += decoded.table.num_rows
            run.rows_written += decoded.table.num_rows
            positions[chunk.partition] = (chunk.end.offset, chunk.end.line)
        run.check_accounting()
        at = store.utcnow()
        store.save_offsets(lake, stmt.name, positions, at)
        store.record_run(lake, run)
        store.advance_clock(lake, str(target), commit_time)
        store.set_job_status(lake, stmt.name, "ingest", str(target), "running", lag=0.0)
    ctx.emit(
        BatchCommitted(
            stmt.name,
            run.run_id,
            run.rows_read,
            run.rows_written,
            len(positions),
            pending.nbytes,
            time.monotonic() - started,
        )
    )
    return run.rows_written


def _select(
    stmt: CreateIngestJob,
    view: str,
    partition: str,
    columns: dict[str, str],
    commit_time: datetime,
    run_id: int,
) -> str:
    excluded = [LINE_COLUMN, *[c for c in columns if c.startswith("$")]]
    commit_lit = f"TIMESTAMPTZ '{commit_time.isoformat()}'"
    if stmt.options.event_time is not None:
        event = f"CAST(({to_duckdb(stmt.options.event_time)}) AS TIMESTAMPTZ)"
    else:
        event = commit_lit
    source_prefix = "file:" + partition.replace("'", "''") + ":"
    return (
        f"SELECT * EXCLUDE ({', '.join(quote(c) for c in excluded)}), "
        f'{event} AS "$event_time", {commit_lit} AS "$commit_time", '
        f'\'{source_prefix}\' || {LINE_COLUMN} AS "$source", {run_id}::BIGINT AS "$run_id" '
        f"FROM {view}"
    )
