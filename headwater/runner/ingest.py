"""Ingestion jobs: read a source from its committed position; commit the rows, the quarantine,
the dedupe keys, the counts and the new position together, in one lake transaction."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from headwater.catalog.model import Entry
from headwater.dialect import to_duckdb
from headwater.dialect.nodes import CreateIngestJob
from headwater.lake import qualified, quote
from headwater.lake.tables import ensure_table, user_columns
from headwater.observe.events import BatchCommitted
from headwater.quality import batch as quality
from headwater.quality import quarantine
from headwater.quality.errors import JobStopped
from headwater.runner.context import RunContext, expand_env
from headwater.runner.errors import RunnerError
from headwater.runner.schema import Conformed, conform
from headwater.sources.decode import Decoded, decode
from headwater.sources.files import LINE_COLUMN, RAW_COLUMN, FileChunk, FilePosition, FilesSource
from headwater.sources.typing import REASON
from headwater.state import failpoints, store

START_MARK = "__start__"  # offsets row recording that START_FROM was applied
EVENT = "__hw_event_time"


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
    path_text = os.path.normpath(expand_env(raw, what=f"connection {conn.name}"))
    root = Path(path_text)
    if not root.is_absolute():
        root = ctx.project_dir / root
    return FilesSource(
        root, path_text, stmt.source.pattern, stmt.options.content_type, ctx.settings.run.batch_bytes
    )


def _start_positions(stmt: CreateIngestJob, source: FilesSource) -> dict[str, tuple[int, int]]:
    """On a job's first run, START_FROM = NOW skips what exists; a timestamp skips older files."""
    start = stmt.options.start_from
    marks: dict[str, tuple[int, int]] = {START_MARK: (0, 0)}
    if start is None or start.kind == "BEGINNING":
        return marks
    cutoff = time.time() if start.kind == "NOW" else parse_timestamp(str(start.timestamp)).timestamp()
    for path in source.files():
        st = path.stat()
        if st.st_mtime < cutoff:
            marks[source.partition_of(path)] = (st.st_size, _count_lines(path) + 1)
    return marks


def parse_timestamp(text: str) -> datetime:
    """START_FROM timestamps: ISO-8601; without a zone they are UTC."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


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
        marks = _start_positions(stmt, source)
        with ctx.lake.transaction():
            store.save_offsets(ctx.lake, stmt.name, marks, store.utcnow())
        offsets.update(marks)
    positions = {p: FilePosition(o, line) for p, (o, line) in offsets.items()}
    table_types = user_columns(
        ctx.lake.columns(stmt.target.schema, stmt.target.name)
        if ctx.lake.table_exists(stmt.target.schema, stmt.target.name)
        else {}
    )
    evolve = stmt.options.on_schema_change == "EVOLVE"
    written = 0
    pending = Pending()
    started = time.monotonic()
    for chunk in source.poll(positions, drain=ctx.drain):
        decoded = decode(ctx.lake.con, chunk, table_types, evolve=evolve)
        if evolve or not table_types:
            for col, typ in decoded.columns.items():
                table_types.setdefault(col, typ)
            table_types.update(decoded.widen)
        pending.add(chunk, decoded)
        if pending.nbytes >= ctx.settings.run.batch_bytes:
            written += _commit(ctx, entry, pending, started)
            pending, started = Pending(), time.monotonic()
            if ctx.stop.is_set():  # stopping: the rest waits for the next run
                return written
    if pending.chunks:
        written += _commit(ctx, entry, pending, started)
    return written


def _commit(
    ctx: RunContext, entry: Entry, pending: Pending, started: float, *, replayed: list[int] | None = None
) -> int:
    """One transaction: rows, quarantine, dedupe keys, expectation counts, run record, positions
    (and, for a replay, the quarantine records it replays)."""
    stmt: CreateIngestJob = entry.statement  # type: ignore[assignment]
    assert stmt.target is not None
    lake = ctx.lake
    spec = ctx.quality_spec(entry)
    sealer = ctx.sealer() if spec.private else None
    run = store.RunRecord(stmt.name, ctx.new_run_id(), store.utcnow())
    commit_time = store.next_commit_time(lake, [str(stmt.target)])
    positions: dict[str, tuple[int, int]] = {}
    violations = {e.name: 0 for e in spec.expectations}
    with lake.transaction():
        for chunk, decoded in pending.chunks:
            prefix = chunk.prefix
            run.rows_read += decoded.rows + decoded.rejected.num_rows
            view = conform(ctx, stmt, decoded, prefix)
            to_quarantine = [_rejected(chunk, decoded.rejected)]
            extras = {EVENT: _event_time(stmt)} if stmt.options.event_time is not None else {}
            outcome = quality.evaluate(
                lake.con,
                view.name,
                spec,
                job=stmt.name,
                now=commit_time,
                extras=extras,
                columns_in=view.columns,
            )
            if outcome.aborted:
                name, line = outcome.aborted
                raise JobStopped(
                    f"job {stmt.name} stopped: expectation {name} (ON VIOLATION ABORT) failed for record "
                    f"{prefix}{line}; nothing of this batch was committed",
                    hint=f"fix the data or the job's SQL, then `headwater resume {stmt.name}`: it continues from the same position",
                )
            types = {
                c: t
                for c, t in zip(*_describe_table(ctx, outcome.table), strict=True)
                if c in outcome.output_columns
            }
            ensure_table(lake, stmt.target, {c: t for c, t in types.items() if not c.startswith("$")})
            run.rows_written += _write(ctx, stmt, outcome, prefix, commit_time, run.run_id)
            if spec.dedupe:
                quality.remember_keys(
                    lake.con, outcome.table, stmt.name, commit_time, spec.dedupe.window.seconds
                )
            to_quarantine.extend(view.quarantined)
            if outcome.quarantined:
                to_quarantine.append(_quarantined_records(ctx, outcome, view, spec.private))
            run.rows_quarantined += quarantine.write(
                lake,
                to_quarantine,
                job=stmt.name,
                run_id=run.run_id,
                at=commit_time,
                source_prefix=prefix,
                sealer=sealer,
                first=run.rows_quarantined,
            )
            run.rows_dropped += outcome.dropped
            run.rows_deduplicated += outcome.deduplicated
            for name, n in outcome.violations.items():
                violations[name] += n
            outcome.drop(lake.con)
            decoded.drop(lake.con)
            if chunk.tracked:
                positions[chunk.partition] = (chunk.end.offset, chunk.end.line)
        run.check_accounting()
        if replayed:
            quarantine.mark_replayed(lake, replayed, run.run_id, commit_time)
        store.save_offsets(lake, stmt.name, positions, store.utcnow())
        store.record_run(lake, run)
        store.record_expectations(lake, stmt.name, run.run_id, spec.expectations, violations)
        store.advance_clock(lake, str(stmt.target), commit_time)
        store.set_job_status(lake, stmt.name, "ingest", str(stmt.target), "running", lag=0.0)
        failpoints.hit("ingest.before_commit")
    failpoints.hit("ingest.after_commit")
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


def _describe_table(ctx: RunContext, table: str) -> tuple[list[str], list[str]]:
    rel = ctx.lake.con.sql(f"SELECT * FROM {table} LIMIT 0")
    return rel.columns, [str(t) for t in rel.types]


def _event_time(stmt: CreateIngestJob) -> str:
    assert stmt.options.event_time is not None
    return f"TRY_CAST(({to_duckdb(stmt.options.event_time)}) AS TIMESTAMPTZ)"


def _write(
    ctx: RunContext,
    stmt: CreateIngestJob,
    outcome: quality.Outcome,
    prefix: str,
    commit_time: datetime,
    run_id: int,
) -> int:
    assert stmt.target is not None
    commit_lit = f"TIMESTAMPTZ '{commit_time.isoformat()}'"
    if stmt.options.event_time is None:
        event = commit_lit
    elif outcome.trivial:  # the original columns are all there: compute it while writing
        event = f"coalesce({_event_time(stmt)}, {commit_lit})"
    else:
        event = f"coalesce({EVENT}, {commit_lit})"
    cols = ", ".join(quote(c) for c in outcome.output_columns if not c.startswith("$"))
    source = "'" + prefix.replace("'", "''") + "' || " + quality.LINE
    select = (
        f'SELECT {cols + ", " if cols else ""}{event} AS "$event_time", {commit_lit} AS "$commit_time", '
        f'{source} AS "$source", {run_id}::BIGINT AS "$run_id" '
        f"FROM {outcome.table} WHERE {outcome.write_filter}"
    )
    if not outcome.written:
        return 0
    try:
        row = ctx.lake.fetchone(
            f"INSERT INTO {qualified(stmt.target.schema, stmt.target.name)} BY NAME {select}"
        )
    except Exception as e:
        raise RunnerError(
            f"job {stmt.name}: cannot write {prefix.removeprefix('file:').rstrip(':')} into {stmt.target}: "
            f"{type(e).__name__}",
            hint="check the table's declared column types against the data",
        ) from None
    return int(row[0]) if row else 0


def _rejected(chunk: FileChunk, rejected: pa.Table) -> quarantine.QuarantineBatch:
    if chunk.format == "CSV":
        header = [c for c in chunk.table.column_names if c not in (LINE_COLUMN, RAW_COLUMN)]
        fmt = ("tsv:" if chunk.partition.lower().endswith(".tsv") else "csv:") + json.dumps(header)
    else:
        fmt = chunk.format.lower()
    return quarantine.QuarantineBatch(rejected[LINE_COLUMN], rejected[RAW_COLUMN], rejected[REASON], fmt)


def _quarantined_records(
    ctx: RunContext, outcome: quality.Outcome, view: Conformed, private: bool
) -> quarantine.QuarantineBatch:
    shown = quality.rows_as_json(
        ctx.lake.con, outcome.table, outcome.output_columns, f"{quality.BUCKET} = 'quarantine'"
    )
    shown = shown.sort_by(quality.LINE)
    original_texts = None
    if private:  # the original values, sealed, so that replay can run them through the job again
        pack = ", ".join(f"{quote(c)} := o.{quote(c)}" for c in view.columns)
        orig = ctx.lake.con.sql(
            f"SELECT to_json(struct_pack({pack}))::VARCHAR AS json FROM {view.name} o "
            f"JOIN {outcome.table} q ON o.{quality.LINE} = q.{quality.LINE} "
            f"WHERE q.{quality.BUCKET} = 'quarantine' ORDER BY o.{quality.LINE}"
        ).to_arrow_table()
        original_texts = orig["json"]
    return quarantine.QuarantineBatch(
        shown[quality.LINE], shown["record"], shown["reason"], "record", original_texts
    )
