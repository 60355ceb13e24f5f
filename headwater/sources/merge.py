"""Consecutive chunks of a partitioned source (Kafka) as one chunk.

A source hands out a chunk per read from its client (10,000 Kafka messages); each chunk becomes
one DuckDB query whose planning and fixed costs do not depend on its rows, so chunks are read
together, up to a size, instead of one by one. ``__hw_line`` is ``(prefix number << FILE_BITS) |
offset`` with the number indexing the chunk's ``source_prefixes``: the merged chunk has the
union of the prefixes, and every line is renumbered into it (vectorised: one lookup per chunk).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from headwater.sources.files import FILE_BITS, LINE_COLUMN, FileChunk, FilePosition, int64_array

_LINE_MASK = (1 << FILE_BITS) - 1


def merge_chunks(chunks: list[FileChunk]) -> FileChunk:
    """One chunk holding the rows, system columns, rejected records and positions of ``chunks``
    (in order: a partition's position is that of the last chunk that has it)."""
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]
    index: dict[str, int] = {}
    for chunk in chunks:
        for prefix in chunk.source_prefixes:
            index.setdefault(prefix, len(index))
    alike = all(c.source_prefixes == first.source_prefixes for c in chunks)

    def lines(table: pa.Table, chunk: FileChunk) -> pa.Table:
        return table if alike else _renumbered(table, chunk, index)  # (alike: numbered the same)

    positions: dict[str, FilePosition] = {}
    for chunk in chunks:
        positions.update(chunk.parts)
    parts = tuple(positions.items())
    rejected = [lines(c.rejected, c) for c in chunks if c.rejected is not None]
    systems = [lines(c.system, c) for c in chunks if c.system is not None]
    return FileChunk(
        first.partition,
        first.format,
        pa.concat_tables([lines(c.table, c) for c in chunks]),
        parts[0][1],
        parts[0][1],
        sum(c.nbytes for c in chunks),
        pa.concat_tables(rejected) if rejected else None,
        parts=parts,
        source_prefixes=tuple(index),
        system=pa.concat_tables(systems) if systems else None,
    )


def _renumbered(table: pa.Table, chunk: FileChunk, index: dict[str, int]) -> pa.Table:
    """``table``'s lines with the chunk's prefix numbers replaced by the merged ones."""
    lookup = np.array([index[p] for p in chunk.source_prefixes] or [0], np.int64)
    column = table[LINE_COLUMN]
    lines = np.concatenate([c.to_numpy() for c in column.chunks] or [np.empty(0, np.int64)]).astype(np.int64)
    renumbered = (lookup[lines >> FILE_BITS] << FILE_BITS) | (lines & _LINE_MASK)
    return table.set_column(table.schema.get_field_index(LINE_COLUMN), LINE_COLUMN, int64_array(renumbered))


def fold_system(chunk: FileChunk) -> FileChunk:
    """A JSON chunk whose system columns ($kafka_key...) are row for row its lines, as one
    table: the decoding query passes them through (no join of the chunk with them by line)."""
    system = chunk.system
    if chunk.format != "JSON" or system is None or system.num_rows != chunk.table.num_rows:
        return chunk
    if not chunk.table[LINE_COLUMN].equals(system[LINE_COLUMN]):
        return chunk
    table = chunk.table
    for i, name in enumerate(system.column_names):
        if name != LINE_COLUMN:
            table = table.append_column(system.schema.field(i), system[name])
    return dataclasses.replace(chunk, table=table, system=None)
