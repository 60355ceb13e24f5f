"""Replaying quarantined records through the job's current definition, exactly once: the records
are marked replayed in the same transaction that writes (or re-quarantines) them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from headwater.catalog.model import Entry
from headwater.dialect.nodes import CreateIngestJob
from headwater.errors import UserError
from headwater.lake import LAKE, SYSTEM_SCHEMA
from headwater.runner.context import RunContext
from headwater.runner.ingest import Batch, TargetSchema
from headwater.sources.csv_lines import split_csv
from headwater.sources.files import LINE_COLUMN, RAW_COLUMN, FileChunk, FilePosition
from headwater.sources.kafka_system import kafka_system
from headwater.sources.raw import decoded


@dataclass
class ReplayResult:
    replayed: int
    written: int
    run_id: int | None


def _split_source(source: str) -> tuple[str, int]:
    """A ``$source`` as (prefix, line): ``file:<path>:<line>``, ``kafka:<topic>/<partition>/<offset>``."""
    sep = "/" if source.startswith("kafka:") else ":"
    prefix, _, line = source.rpartition(sep)
    return prefix + sep, int(line)


def _chunk(prefix: str, quarantined_format: str, lines: list[int], texts: list[str]) -> FileChunk:
    """The records as a chunk of their format, read again with the same checks as ingestion
    (from the same bytes: a line that was not UTF-8 is quarantined again unless fixed).
    ``prefix``: the $source of each line is ``prefix || line``."""
    partition = prefix[:-1]
    numbers = np.array(lines, dtype=np.int64)
    fmt, data = decoded(quarantined_format, texts)
    nbytes = sum(len(t) for t in data)
    pos = FilePosition(0, 0)
    if fmt.startswith(("csv:", "tsv:")):
        header = json.loads(fmt[4:])
        body = b"\n".join(data) + b"\n"
        table, rejected = split_csv(
            body, 0, header, "\t" if fmt.startswith("tsv") else ",", LINE_COLUMN, RAW_COLUMN
        )
        table = table.set_column(
            table.schema.get_field_index(LINE_COLUMN),
            LINE_COLUMN,
            pa.array(numbers[table[LINE_COLUMN].to_numpy()]),
        )
        rejected = rejected.set_column(
            0, LINE_COLUMN, pa.array(numbers[rejected[LINE_COLUMN].to_numpy()], pa.int64())
        )
        return FileChunk(partition, "CSV", table, pos, pos, nbytes, rejected, prefix, tracked=False)
    # (a string array over the bytes as they are, unchecked, as the files source reads them)
    offsets = np.cumsum([0, *(len(d) for d in data)], dtype=np.int64)
    raw = pa.LargeStringArray.from_buffers(len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data)))
    table = pa.table({LINE_COLUMN: pa.array(numbers), RAW_COLUMN: raw})
    return FileChunk(partition, "JSON", table, pos, pos, nbytes, None, prefix, tracked=False)


def replay(ctx: RunContext, entry: Entry, ids: list[int] | None = None) -> ReplayResult:
    if entry.kind != "ingest_job":
        raise UserError(
            f"{entry.name} is a transformation job: its quarantined rows are window outputs",
            hint="fix the job and reprocess its windows instead",
        )
    where = "job = ? AND replayed_at IS NULL"
    params: list[object] = [entry.name]
    if ids:
        where += " AND list_contains(?, id)"
        params.append(ids)
    rows = ctx.lake.fetchall(
        f'SELECT id, "$source", raw, format, sealed FROM {LAKE}.{SYSTEM_SCHEMA}.quarantine WHERE {where} ORDER BY id',
        params,
    )
    if not rows:
        return ReplayResult(0, 0, None)
    sealer = ctx.sealer()
    groups: dict[tuple[str, str], tuple[list[int], list[str]]] = {}
    for _id, source, raw, fmt, sealed in rows:
        text = sealer.open(sealed) if sealed else raw
        prefix, line = _split_source(str(source))
        lines, texts = groups.setdefault((prefix, str(fmt)), ([], []))
        lines.append(line)
        texts.append(text)
    stmt = entry.statement
    assert isinstance(stmt, CreateIngestJob)
    batch = Batch(ctx, entry, TargetSchema.of(ctx, stmt))
    for (prefix, fmt), (lines, texts) in groups.items():
        if prefix.startswith("kafka:"):
            texts, system = kafka_system(ctx.lake.con, lines, texts, fmt)
            chunk = _chunk(prefix, fmt, lines, texts)
            chunk.system = system
            batch.add(chunk)
        else:
            batch.add(_chunk(prefix, fmt, lines, texts))
    written = batch.commit(replayed=[int(r[0]) for r in rows])
    last = ctx.lake.fetchone(
        f"SELECT max(run_id) FROM {LAKE}.{SYSTEM_SCHEMA}.runs WHERE job = ?", [entry.name]
    )
    return ReplayResult(len(rows), written, int(last[0]) if last and last[0] is not None else None)
