"""Ingestion jobs: read a source from its committed position; commit the rows, the quarantine,
the dedupe keys, the counts and the new position together, in one lake transaction."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from headwater.catalog.columns import check_names, ingest_uses, unknown_uses
from headwater.catalog.model import Entry
from headwater.dialect import to_duckdb
from headwater.dialect.nodes import KAFKA_COLUMNS, CreateIngestJob
from headwater.lake import qualified, quote
from headwater.lake.engine import clean_error
from headwater.lake.tables import ensure_table, user_columns, widen_columns
from headwater.observe.events import BatchCommitted, Notice
from headwater.quality import batch as quality
from headwater.quality import quarantine
from headwater.quality.dedupe import BatchKeys
from headwater.quality.diagnose import explain_failure
from headwater.quality.errors import JobStopped
from headwater.runner import watermarks
from headwater.runner.context import RunContext, expand_env
from headwater.runner.errors import RunnerError, TransientError
from headwater.runner.schema import Conformed, conform
from headwater.sources.decode import SHAPE, Decoded, concat_rejected, decode, json_path
from headwater.sources.errors import NoColumns, SourceError
from headwater.sources.files import (
    LINE_COLUMN,
    RAW_COLUMN,
    READ_BYTES,
    FileChunk,
    FilePosition,
    FilesSource,
    Sources,
    combine,
)
from headwater.sources.keys import stored_name
from headwater.sources.merge import fold_system, merge_chunks
from headwater.sources.prefetch import prefetch
from headwater.sources.raw import BASE64, INVALID_UTF8
from headwater.sources.typing import DOUBLE_INTEGERS, REASON
from headwater.state import failpoints, store

_tables = itertools.count()
START_MARK = "__start__"  # offsets row recording that START_FROM was applied
COMBINE_BYTES = 16 * 1024 * 1024  # small files are read together, up to this many bytes a chunk
EVENT = "__hw_event_time"


@dataclass
class TargetSchema:
    """What the job's records look like as chunks are read: each column's type (the table's, plus
    what this run's data added) and the key sets already checked against them."""

    types: dict[str, str]
    evolve: bool
    exists: bool
    shapes: set[int] = field(default_factory=set)
    stored: dict[str, str] | None = None  # the table's columns as the last commit left them

    @classmethod
    def of(cls, ctx: RunContext, stmt: CreateIngestJob) -> TargetSchema:
        assert stmt.target is not None
        exists = ctx.lake.table_exists(stmt.target.schema, stmt.target.name)
        types = user_columns(ctx.lake.columns(stmt.target.schema, stmt.target.name)) if exists else {}
        # (a table declared without columns exists with none of its own: its data gives them)
        return cls(types, stmt.options.on_schema_change == "EVOLVE", bool(types))

    def table_columns(self) -> dict[str, str] | None:
        """The table's columns as of this batch (None: it has none yet)."""
        return self.types if self.exists else None

    def learn(self, decoded: Decoded) -> None:
        if self.evolve or not self.types:
            for col, typ in decoded.columns.items():
                self.types.setdefault(col, typ)
            self.types.update(decoded.widen)


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
    if ctx.catalog.connections[stmt.source.connection].kind != "FILES":
        from headwater.runner.drain import open_source, run_source

        return run_source(ctx, entry, open_source(ctx, stmt))
    source = files_source(ctx, stmt)
    offsets = store.load_offsets(ctx.lake, stmt.name)
    if START_MARK not in offsets:
        marks = _start_positions(stmt, source)
        with ctx.lake.transaction():
            store.save_offsets(ctx.lake, stmt.name, marks, store.utcnow())
        offsets.update(marks)
    positions = {p: FilePosition(o, line) for p, (o, line) in offsets.items()}
    schema = TargetSchema.of(ctx, stmt)
    polled = store.utcnow()
    written = 0
    batch: Batch | None = None
    try:
        limit = min(COMBINE_BYTES, ctx.settings.run.batch_bytes)  # (a commit is never larger)
        chunks = combine(source.poll(positions, drain=ctx.drain), limit)
        # (a chunk larger than a read, a long line's, is not read ahead: the next would be held
        # in memory beside it)
        for chunk in prefetch(chunks, ahead=lambda c: c.nbytes <= READ_BYTES):
            if batch is not None and batch.nbytes + chunk.nbytes > ctx.settings.run.batch_bytes:
                # (a batch never grows past batch_bytes: its chunks are held until it commits)
                written += batch.commit()
                batch = None
                if ctx.stop.is_set():  # stopping: the rest (this chunk too) waits for the next run
                    return written
            if batch is None:
                batch = Batch(ctx, entry, schema)
            batch.add(chunk)
            if batch.nbytes >= ctx.settings.run.batch_bytes:
                written += batch.commit()
                batch = None
                if ctx.stop.is_set():  # stopping: the rest waits for the next run
                    return written
        if batch is not None:
            written += batch.commit()
            batch = None
        watermarks.read_up_to(ctx, stmt, polled)
    finally:
        if batch is not None:
            batch.rollback()
    return written


@dataclass
class _Staged:
    """A chunk classified before the batch's transaction opens, waiting to be written. (Its temp
    tables are then committed ones, which the lake write scans on every thread; a temp table made
    inside the transaction is scanned on one.)"""

    outcome: quality.Outcome
    decoded: Decoded | None  # kept while ``outcome`` reads from it
    widen: dict[str, str]
    quarantine: list[quarantine.QuarantineBatch]
    sources: Sources
    positions: list[tuple[str, FilePosition]]  # each file's, once written
    number: int  # the chunk's place in the batch
    system: str | None = None  # the chunk's system columns, registered (see ``_with_system``)

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        with contextlib.suppress(duckdb.Error):
            self.outcome.drop(con)
            if self.decoded is not None:
                self.decoded.drop(con)
            if self.system is not None:
                con.unregister(self.system)


class Batch:
    """One lake transaction. Each chunk added is read and classified at once (values,
    expectations, the rows to quarantine; a failed ABORT expectation stops the job before anything
    is written); on commit the transaction writes every chunk's rows, quarantine and dedupe keys
    (duplicates are found there, against the keys already committed and those of the earlier
    chunks), the expectation counts, the run record and the new positions (and, for a replay,
    the quarantine records it replays) together."""

    def __init__(self, ctx: RunContext, entry: Entry, schema: TargetSchema) -> None:
        stmt = entry.statement
        assert isinstance(stmt, CreateIngestJob) and stmt.target is not None
        self.ctx, self.entry, self.stmt, self.schema = ctx, entry, stmt, schema
        self.started = time.monotonic()
        self.spec = ctx.quality_spec(entry)
        self.sealer = ctx.sealer() if self.spec.private else None
        self.run = store.RunRecord(stmt.name, ctx.new_run_id(), store.utcnow())
        self.commit_time = store.utcnow()  # set again when the transaction opens
        self.positions: dict[str, tuple[int, int]] = {}
        self.violations = {e.name: 0 for e in self.spec.expectations}
        self.nbytes = 0
        self.pending: list[FileChunk] = []  # a source's chunks, to be read together (merge_chunks)
        self.unit = "file"  # what a position is of, for the progress line
        self.staged: list[_Staged] = []
        self.keys = BatchKeys(ctx.lake.con, self.spec.dedupe, stmt.name) if self.spec.dedupe else None
        self.uses = ingest_uses(stmt, self.spec.expectations)  # the columns the job names
        self.table_columns = schema.stored  # the target's, as known (None: to be looked up)
        self.open = False  # the lake transaction
        self.progress: dict[str, store.Progress] | None = None  # streams: saved with the positions
        self.max_event: datetime | None = None  # the largest EVENT_TIME written (for the watermark)
        self.late_before: datetime | None = None  # rows with an earlier event time are late

    def lag_seconds(self) -> float:
        seconds = [p.seconds_behind for p in (self.progress or {}).values() if p.seconds_behind is not None]
        return max(seconds, default=0.0)

    def rollback(self) -> None:
        self.schema.stored = None  # (this batch may have changed the table before it failed)
        self.pending = []
        self._drop_staged()
        if self.open:
            self.open = False
            with contextlib.suppress(duckdb.Error):
                self.ctx.lake.execute("ROLLBACK")

    def _drop_staged(self) -> None:
        for staged in self.staged:
            staged.drop(self.ctx.lake.con)
        self.staged = []
        if self.keys is not None:
            with contextlib.suppress(duckdb.Error):
                self.keys.drop()

    def add(self, chunk: FileChunk) -> None:
        self.nbytes += chunk.nbytes
        if chunk.source_prefixes:  # (positions are a source's partitions, not files)
            self.unit = "partition"
        if chunk.system is not None and not chunk.system.num_rows:
            # No messages (a source moved past offsets that hold none): only positions, saved
            # after those of the chunks before it.
            self._stage_pending()
            if self.staged:
                self.staged[-1].positions.extend(chunk.positions())
            else:
                for partition, position in chunk.positions():
                    self.positions[partition] = (position.offset, position.line)
            return
        if chunk.source_prefixes and chunk.tracked:
            # A source's chunks are small (one read of its client): each would be a query with
            # fixed costs, so they are read together, up to COMBINE_BYTES.
            self.pending.append(chunk)
            if sum(c.nbytes for c in self.pending) >= min(COMBINE_BYTES, self.ctx.settings.run.batch_bytes):
                self._stage_pending()
            return
        self._add_staged(chunk)

    def _stage_pending(self) -> None:
        if self.pending:
            chunks, self.pending = self.pending, []
            self._add_staged(merge_chunks(chunks))

    def _add_staged(self, chunk: FileChunk) -> None:
        try:
            self.staged.append(self._stage(chunk))
        except BaseException:
            self.rollback()
            raise

    def _decode(self, chunk: FileChunk, **kwargs: Any) -> Decoded:
        schema = self.schema
        lazy = schema.evolve or not schema.exists
        try:
            return decode(
                self.ctx.lake.con,
                chunk,
                schema.types,
                evolve=schema.evolve,
                lazy=lazy,
                exact_in_double=self._exact_in_double,
                **kwargs,
            )
        except NoColumns as e:
            stmt = self.stmt
            job = f"job {stmt.name} ({stmt.pos})"
            if e.empty_key:
                raise SourceError(
                    f"{job}: the record at {chunk.sources.text(e.line or 0)} has a key that is the empty "
                    'string "": a column needs a name; nothing of this batch was committed',
                    hint="rename the key in the data (or move the record out of the folder); then run again",
                ) from None
            what = (
                f"the lines of {chunk.sources.describe()} are all blank"
                if e.line is None
                else f"the records from {chunk.sources.text(e.line)} on have no fields ({{}})"
            )
            raise SourceError(
                f"{job}: {what}: there is no column to create {stmt.target} with; nothing of this "
                "batch was committed",
                hint="a new table takes its columns from its first records: declare them with "
                f"CREATE TABLE {stmt.target} (...), or add records with fields; then run again",
            ) from None

    def _check_names(self, chunk: FileChunk, decoded: Decoded) -> None:
        """Every column the job names must be the table's or this chunk's (a column the table
        has may be missing from a chunk: it reads as NULL). Before anything is evaluated."""
        first = not self.schema.types  # the table has no columns yet: the data gives them
        known = [*self.schema.types, *decoded.columns]
        if not unknown_uses(self.uses, known, first=first):
            return
        if decoded.lazy and decoded.registered:  # planned from a sample or the table: every key
            records, keys = self.ctx.lake.fetchone(
                f"SELECT count(*), list_distinct(flatten(list(json_keys({RAW_COLUMN})))) "
                f"FROM {decoded.registered} WHERE json_valid({RAW_COLUMN}) "
                f"AND json_type({RAW_COLUMN}) = 'OBJECT'"
            ) or (0, [])
            if not records:  # blank or unreadable lines only: nothing is evaluated
                return
            known += keys or []
        where = f"{self.stmt.target} or of its data ({chunk.sources.describe()})"
        check_names(self.stmt.name, self.uses, known, where, first=first, table=self.stmt.target)

    def _exact_in_double(self, column: str) -> bool:
        """Whether every value of the integer column ``column`` (in the table, and in the chunks
        of this batch not yet written) is exact in a DOUBLE, so that widening changes none."""
        lake, target = self.ctx.lake, self.stmt.target
        assert target is not None
        tables = [s.outcome.table for s in self.staged if column in s.outcome.output_columns]
        if lake.table_exists(target.schema, target.name):
            tables.append(qualified(target.schema, target.name))
        try:
            for table in tables:
                row = lake.fetchone(
                    f"SELECT count(*) FROM {table} WHERE abs({quote(column)}::HUGEINT) > {DOUBLE_INTEGERS}"
                )
                if row and row[0]:
                    return False
        except duckdb.Error:
            return False
        return True

    def _evaluate(
        self, chunk: FileChunk, decoded: Decoded, system: str | None = None
    ) -> tuple[Conformed, quality.Outcome]:
        stmt = self.stmt
        view = conform(stmt, decoded, self.ctx.lake, chunk.sources.text, self.schema.table_columns())
        if decoded.passed:  # the system columns came through the decoding query
            view = Conformed(view.name, [*view.columns, *decoded.passed], view.quarantined)
        elif system is not None and chunk.system is not None:
            view = _with_system(view, system, chunk.system.column_names)
        extras = {EVENT: _event_time(stmt)} if stmt.options.event_time is not None else {}
        try:
            outcome = quality.evaluate(
                self.ctx.lake.con,
                view.name,
                self.spec,
                extras=extras,
                columns_in=view.columns,
                table=f"hw_quality_{next(_tables)}",
            )
        except duckdb.Error as e:
            types = {c: t for c, t in decoded.columns.items() if c in view.columns}
            raise explain_failure(
                self.ctx.lake.con,
                view.name,
                {c: str(t) for c, t in types.items()},
                self.spec,
                {"EVENT_TIME": extras[EVENT]} if extras else {},
                e,
                job=f"{stmt.name} ({stmt.pos})",
                source=chunk.sources.describe(),
            ) from None
        return view, outcome

    def _replan(self, decoded: Decoded, outcome: quality.Outcome) -> list[int] | None:
        """For a lazy chunk planned from the table: None if every record's keys were planned
        for (and no value needs a wider type), else the lines to include in a new plan."""
        lake = self.ctx.lake
        seen = {
            int(r[0])
            for r in lake.fetchall(f"SELECT DISTINCT {SHAPE} FROM {outcome.table} WHERE {SHAPE} IS NOT NULL")
        }
        unknown = sorted(seen - self.schema.shapes)
        if unknown:
            firsts = lake.fetchall(
                f"SELECT min({LINE_COLUMN}) FROM {outcome.table} WHERE list_contains(?, {SHAPE}) GROUP BY {SHAPE}",
                [unknown],
            )
            lines = [int(r[0]) for r in firsts]
            structs = list(decoded.structs)
            nested = "".join(f", json_keys({RAW_COLUMN}, {json_path(c)})" for c in structs)
            found = lake.fetchall(
                f"SELECT json_keys({RAW_COLUMN}){nested} FROM {decoded.registered} "
                f"WHERE list_contains(?, {LINE_COLUMN})",
                [lines],
            )
            for top, *inner in found:
                if any(stored_name(k) not in decoded.columns for k in top) or any(
                    not set(keys or []) <= decoded.structs[c] for c, keys in zip(structs, inner, strict=True)
                ):
                    return lines
            self.schema.shapes.update(unknown)
        if self.schema.evolve and outcome.rejected:
            # A value that does not fit an integer column may need the column widened.
            lines = [
                int(r[0])
                for r in lake.fetchall(
                    f"SELECT {LINE_COLUMN} FROM {outcome.table} WHERE {quality.BUCKET} = 'reject' "
                    f"AND {quality.REJECT} LIKE 'column %: expected %INT%' LIMIT 1000"
                )
            ]
            return lines or None
        return None

    def _stage(self, chunk: FileChunk) -> _Staged:
        stmt, lake, run = self.stmt, self.ctx.lake, self.run
        assert stmt.target is not None
        chunk = fold_system(chunk)
        sources = chunk.sources
        system = None
        if chunk.system is not None:
            system = f"hw_system_{next(_tables)}"
            lake.con.register(system, chunk.system)
        decoded = self._decode(chunk)
        outcome = None
        try:
            self._check_names(chunk, decoded)
            view, outcome = self._evaluate(chunk, decoded, system)
            if decoded.lazy:
                lines = self._replan(decoded, outcome)
                if lines is not None:  # plan again from this chunk's own keys and values
                    outcome.drop(lake.con)
                    decoded.drop(lake.con)
                    decoded = self._decode(chunk, sample_lines=lines)
                    view, outcome = self._evaluate(chunk, decoded, system)
            self.schema.learn(decoded)
            self.schema.exists = True  # (once this batch commits)
            # (a materialised chunk's rows: before ON_SCHEMA_CHANGE set some aside)
            run.rows_read += (outcome.rows if decoded.lazy else decoded.rows) + decoded.rejected.num_rows
            if outcome.aborted:
                name, line = outcome.aborted
                raise JobStopped(
                    f"job {stmt.name} stopped: expectation {name} (ON VIOLATION ABORT) failed for record "
                    f"{sources.text(line)}; nothing of this batch was committed",
                    hint=f"fix the data or the job's SQL, then `headwater resume {stmt.name}`: it continues from the same position",
                )
            rejected = [decoded.rejected]
            if outcome.rejected:
                bad = lake.con.sql(
                    f"SELECT {LINE_COLUMN}, {quality.REJECT} FROM {outcome.table} "
                    f"WHERE {quality.BUCKET} = 'reject' ORDER BY {LINE_COLUMN}"
                ).to_arrow_table()
                rejected.append(
                    pa.table(
                        {
                            LINE_COLUMN: bad[LINE_COLUMN],
                            RAW_COLUMN: decoded.texts(bad[LINE_COLUMN]),
                            REASON: bad[quality.REJECT],
                        }
                    )
                )
            to_quarantine = [*_rejected(chunk, concat_rejected(rejected)), *view.quarantined]
            if outcome.quarantined:
                to_quarantine.append(
                    _quarantined_records(self.ctx, outcome, view, decoded, self.spec.private)
                )
            run.rows_dropped += outcome.dropped
            for name, n in outcome.violations.items():
                self.violations[name] += n
            number = len(self.staged)
            if self.keys is not None:
                self.keys.add(number, outcome)
            keep = None if outcome.owned else decoded  # a trivial outcome reads the decoded rows
            if keep is None:
                decoded.drop(lake.con)
            return _Staged(
                outcome, keep, decoded.widen, to_quarantine, sources, chunk.positions(), number, system
            )
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                if outcome is not None:
                    outcome.drop(lake.con)
                decoded.drop(lake.con)
                if system is not None:
                    lake.con.unregister(system)
            raise

    def _write(self, staged: _Staged, pending: list[tuple[str, Sources]]) -> None:
        """Inside the transaction: one staged chunk's quarantine, and its rows (duplicates set
        aside) added to ``pending``: the rows of consecutive chunks are written by one INSERT
        (fewer, larger files), before the table's columns change and at the end."""
        stmt, lake, run, outcome = self.stmt, self.ctx.lake, self.run, staged.outcome
        assert stmt.target is not None
        types = {
            c: t
            for c, t in zip(*_describe_table(self.ctx, outcome.table), strict=True)
            if c in outcome.output_columns
        }
        wanted = {c: t for c, t in types.items() if _stored(c)}
        have = self.table_columns
        if have is None or staged.widen or any(have.get(c) != t for c, t in wanted.items()):
            self._flush(pending)
            self.table_columns = ensure_table(lake, stmt.target, wanted)
            widen_columns(lake, stmt.target, staged.widen)
        if self.keys is not None:
            self.keys.mark(staged.number, outcome)
        select = _select(stmt, outcome, staged.sources, self.commit_time, run.run_id)
        if select is not None:
            pending.append((select, staged.sources))
        latest, late = _lateness(self.ctx, stmt, outcome, self.commit_time, self.late_before)
        run.rows_late += late
        if latest is not None:
            self.max_event = latest if self.max_event is None else max(self.max_event, latest)
        run.rows_deduplicated += outcome.deduplicated
        run.rows_quarantined += quarantine.write(
            lake,
            staged.quarantine,
            job=stmt.name,
            run_id=run.run_id,
            at=self.commit_time,
            source_of=staged.sources.arrow,
            sealer=self.sealer,
            first=run.rows_quarantined,
        )
        for partition, position in staged.positions:
            self.positions[partition] = (position.offset, position.line)

    def _flush(self, pending: list[tuple[str, Sources]]) -> None:
        if pending:
            self.run.rows_written += _insert(self.ctx, self.stmt, pending)
            pending.clear()

    def commit(self, *, replayed: list[int] | None = None, gaps: list[store.Gap] | None = None) -> int:
        """Write the staged chunks and commit, in one transaction; returns the rows written.
        ``gaps``: the source's skipped offsets not recorded yet; those that this batch's
        positions go past are recorded with it (and taken out of the list)."""
        stmt, lake, run = self.stmt, self.ctx.lake, self.run
        recorded: list[store.Gap] = []
        assert stmt.target is not None
        self._stage_pending()  # (before the transaction, as every chunk is)
        try:
            lake.execute("BEGIN TRANSACTION")
            self.open = True
            # As close as possible to the moment the rows become visible.
            self.commit_time = store.next_commit_time(lake)
            self.late_before = watermarks.late_before(self.ctx, stmt.target)
            if self.keys is not None:
                self.keys.find(self.commit_time)
            pending: list[tuple[str, Sources]] = []
            for staged in self.staged:
                self._write(staged, pending)
            self._flush(pending)
            if self.keys is not None:
                self.keys.remember(self.commit_time)
            self._drop_staged()
            run.check_accounting()
            if replayed:
                quarantine.mark_replayed(lake, replayed, run.run_id, self.commit_time)
            store.save_offsets(lake, stmt.name, self.positions, store.utcnow(), self.progress)
            if gaps:
                recorded = store.record_gaps(
                    lake, stmt.name, gaps, self.positions, run.run_id, self.commit_time
                )
            watermarks.save_ingest(self.ctx, stmt, self.max_event, self.commit_time, run.rows_read)
            store.record_run(lake, run)
            store.record_expectations(lake, stmt.name, run.run_id, self.spec.expectations, self.violations)
            store.advance_clock(lake, str(stmt.target), self.commit_time)
            store.set_job_status(
                lake, stmt.name, "ingest", str(stmt.target), "running", lag=self.lag_seconds()
            )
            failpoints.hit("ingest.before_commit")
            lake.execute("COMMIT")
            self.open = False
        except BaseException:
            self.rollback()
            raise
        failpoints.hit("ingest.after_commit")
        self.schema.stored = self.table_columns
        if gaps is not None and recorded:
            gaps[:] = [g for g in gaps if g not in recorded]
            for g in recorded:
                skipped = f"{stmt.name}: skipped offsets {g.first} to {g.last} of {g.partition}"
                why = "deleted before they were read (ON_RETENTION_GAP = SKIP; recorded in system.gaps)"
                self.ctx.emit(Notice(f"{skipped}, {why}"))
        self.ctx.emit(
            BatchCommitted(
                stmt.name,
                run.run_id,
                run.rows_read,
                run.rows_written,
                len(self.positions),
                self.nbytes,
                time.monotonic() - self.started,
                self.unit,
            )
        )
        return run.rows_written


def _stored(column: str) -> bool:
    """A column of the batch written as it is: the record's, and a source's system columns
    (the others, $event_time..., are computed when writing)."""
    return not column.startswith("$") or column in KAFKA_COLUMNS


def _with_system(view: Conformed, system: str, columns: list[str]) -> Conformed:
    """The chunk's rows with its source's system columns ($kafka_key...), joined by line, so
    that EVENT_TIME, expectations, keys and transformations can name them."""
    extra = [c for c in columns if c != LINE_COLUMN]
    picked = ", ".join(f"s.{quote(c)}" for c in extra)
    joined = (
        f"(SELECT d.*, {picked} FROM {view.name} d LEFT JOIN {system} s ON d.{LINE_COLUMN} = s.{LINE_COLUMN})"
    )
    return Conformed(joined, [*view.columns, *extra], view.quarantined)


def _describe_table(ctx: RunContext, table: str) -> tuple[list[str], list[str]]:
    rel = ctx.lake.con.sql(f"SELECT * FROM {table} LIMIT 0")
    return rel.columns, [str(t) for t in rel.types]


def _event_time(stmt: CreateIngestJob) -> str:
    assert stmt.options.event_time is not None
    return f"TRY_CAST(({to_duckdb(stmt.options.event_time)}) AS TIMESTAMPTZ)"


def _event(stmt: CreateIngestJob, outcome: quality.Outcome, commit_lit: str) -> tuple[str | None, str]:
    """SQL over a staged chunk: the EVENT_TIME given (None: no EVENT_TIME) and ``$event_time``."""
    if stmt.options.event_time is None:
        return None, commit_lit
    # (a trivial outcome has the original columns: computed while writing)
    given = _event_time(stmt) if outcome.trivial else EVENT
    return given, f"coalesce({given}, {commit_lit})"


def _select(
    stmt: CreateIngestJob, outcome: quality.Outcome, sources: Sources, commit_time: datetime, run_id: int
) -> str | None:
    """The SELECT of a staged chunk's rows to write, with their system columns (None: none)."""
    if not outcome.written:
        return None
    commit_lit = f"TIMESTAMPTZ '{commit_time.isoformat()}'"
    _, event = _event(stmt, outcome, commit_lit)
    cols = ", ".join(quote(c) for c in outcome.output_columns if _stored(c))
    return (
        f'SELECT {cols + ", " if cols else ""}{event} AS "$event_time", {commit_lit} AS "$commit_time", '
        f'{sources.sql(quality.LINE)} AS "$source", {run_id}::BIGINT AS "$run_id" '
        f"FROM {outcome.table} WHERE {outcome.write_filter}"
    )


def _lateness(
    ctx: RunContext,
    stmt: CreateIngestJob,
    outcome: quality.Outcome,
    commit_time: datetime,
    late_before: datetime | None,
) -> tuple[datetime | None, int]:
    """The largest EVENT_TIME among a staged chunk's rows to write (NULL values left out) and
    how many are late (event time before ``late_before``): one aggregate, before the write."""
    if not outcome.written:
        return None, 0
    given, event = _event(stmt, outcome, f"TIMESTAMPTZ '{commit_time.isoformat()}'")
    if given is not None:
        cutoff = "NULL::TIMESTAMPTZ" if late_before is None else f"TIMESTAMPTZ '{late_before.isoformat()}'"
        got = ctx.lake.fetchone(
            f"SELECT max({given}), count(*) FILTER (WHERE {event} < {cutoff}) "
            f"FROM {outcome.table} WHERE {outcome.write_filter}"
        )
        return (got[0], int(got[1])) if got is not None else (None, 0)
    if late_before is not None and commit_time < late_before:
        return None, outcome.written
    return None, 0


def _insert(ctx: RunContext, stmt: CreateIngestJob, selects: list[tuple[str, Sources]]) -> int:
    """One INSERT of the rows of several staged chunks (of the same columns); the rows written."""
    assert stmt.target is not None
    union = " UNION ALL BY NAME ".join(f"({sql})" for sql, _ in selects)
    described = list(dict.fromkeys(sources.describe() for _, sources in selects))
    what = ", ".join(described[:3]) + (f" and {len(described) - 3} more" if len(described) > 3 else "")
    try:
        row = ctx.lake.fetchone(
            f"INSERT INTO {qualified(stmt.target.schema, stmt.target.name)} BY NAME {union}"
        )
    except duckdb.IOException as e:  # the lake's storage: may go away (runner.retry)
        raise TransientError(
            f"job {stmt.name}: cannot write {what} into {stmt.target}: {clean_error(str(e))}",
            hint="check that the lake's data_path can be written (space, mount, permissions)",
        ) from None
    except Exception as e:
        raise RunnerError(
            f"job {stmt.name}: cannot write {what} into {stmt.target}: {type(e).__name__}",
            hint="check the table's declared column types against the data",
        ) from None
    return int(row[0]) if row else 0


def _rejected(chunk: FileChunk, rejected: pa.Table) -> list[quarantine.QuarantineBatch]:
    """Unreadable lines; those that are not UTF-8 are in base64 (``headwater.sources.raw``)."""
    if chunk.format == "CSV":
        header = [c for c in chunk.table.column_names if c not in (LINE_COLUMN, RAW_COLUMN)]
        fmt = ("tsv:" if chunk.partition.lower().endswith(".tsv") else "csv:") + json.dumps(header)
    else:
        fmt = chunk.format.lower()
    binary = pc.equal(rejected[REASON], INVALID_UTF8)
    return [
        quarantine.QuarantineBatch(part[LINE_COLUMN], part[RAW_COLUMN], part[REASON], prefix + fmt)
        for part, prefix in ((rejected.filter(pc.invert(binary)), ""), (rejected.filter(binary), BASE64))
    ]


def _quarantined_records(
    ctx: RunContext, outcome: quality.Outcome, view: Conformed, decoded: Decoded, private: bool
) -> quarantine.QuarantineBatch:
    shown = quality.rows_as_json(
        ctx.lake.con, outcome.table, outcome.output_columns, f"{quality.BUCKET} = 'quarantine'"
    )
    shown = shown.sort_by(quality.LINE)
    original_texts = None
    if private and decoded.lazy and not set(view.columns) & set(KAFKA_COLUMNS):
        # the lines as they arrived, sealed, for replay (with a source's system columns: the
        # original values, below, which keep them)
        original_texts = decoded.texts(shown[quality.LINE])
    elif private:  # the original values, sealed, so that replay can run them through the job again
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
