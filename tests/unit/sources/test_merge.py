"""A source's small chunks (one Kafka consume() each) read as one: every record keeps its
$source, its system columns stay on its line, and each partition ends at its last position."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.sources.files import FILE_BITS, LINE_COLUMN, RAW_COLUMN, FileChunk, FilePosition, int64_array
from headwater.sources.kafka import SYSTEM_SCHEMA
from headwater.sources.merge import merge_chunks


def chunk(messages: list[tuple[int, int]], ends: dict[int, int], every: int = 0) -> FileChunk:
    """A chunk as KafkaSource._chunks makes it: (partition, offset) messages of topic t, its
    lines numbered by the partitions in it, or (``every``) by all of the topic's 0 to every - 1."""
    present = list(range(every)) if every else sorted({p for p, _ in messages})
    number = {p: i for i, p in enumerate(present)}
    lines = int64_array(np.array([(number[p] << FILE_BITS) | o for p, o in messages], np.int64))
    raw = pa.array([f'{{"p": {p}, "o": {o}}}' for p, o in messages], pa.large_string())
    keys = pa.array([f"k{p}-{o}" for p, o in messages], pa.string())
    system = pa.table(
        [
            lines,
            keys,
            pa.nulls(len(messages), SYSTEM_SCHEMA.field("$kafka_timestamp").type),
            pa.nulls(len(messages), SYSTEM_SCHEMA.field("$kafka_headers").type),
        ],
        schema=SYSTEM_SCHEMA,
    )
    positions = tuple((f"t/{p}", FilePosition(at, at)) for p, at in sorted(ends.items()))
    return FileChunk(
        "t",
        "JSON",
        pa.table({LINE_COLUMN: lines, RAW_COLUMN: raw}),
        positions[0][1],
        positions[0][1],
        sum(len(r) for r in raw.to_pylist()),
        parts=positions,
        source_prefixes=tuple(f"kafka:t/{p}/" for p in present),
        system=system,
    )


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=12), min_size=1, max_size=6),
    st.lists(st.sampled_from([0, 6, 7]), min_size=6, max_size=6),
)
def test_merged_chunks_keep_each_records_source_system_columns_and_positions(
    reads: list[list[int]], numbering: list[int]
) -> None:
    next_offset: dict[int, int] = {}
    chunks = []
    for partitions in reads:  # each read: messages from these partitions, in this order
        messages = []
        for p in partitions:
            messages.append((p, next_offset.get(p, 0)))
            next_offset[p] = next_offset.get(p, 0) + 1
        every = numbering[len(chunks)]  # (chunks numbered alike, or not)
        chunks.append(chunk(messages, {p: next_offset[p] for p in set(partitions)}, every))
    merged = merge_chunks(chunks)
    want = [f"kafka:t/{p}/{o}" for c in chunks for p, o in _messages(c)]
    assert merged.sources.arrow(merged.table[LINE_COLUMN]).to_pylist() == want
    assert merged.table[RAW_COLUMN].to_pylist() == [
        r for c in chunks for r in c.table[RAW_COLUMN].to_pylist()
    ]
    # The system columns are found by line, as the ingestion joins them.
    keys = dict(
        zip(merged.system[LINE_COLUMN].to_pylist(), merged.system["$kafka_key"].to_pylist(), strict=True)
    )
    assert [keys[line] for line in merged.table[LINE_COLUMN].to_pylist()] == [
        f"k{p}-{o}" for c in chunks for p, o in _messages(c)
    ]
    assert dict(merged.positions()) == {f"t/{p}": FilePosition(at, at) for p, at in next_offset.items()}
    assert merged.nbytes == sum(c.nbytes for c in chunks)


def _messages(c: FileChunk) -> list[tuple[int, int]]:
    """(partition, offset) of each row of a chunk, from its $source texts."""
    out = []
    for text in c.sources.arrow(c.table[LINE_COLUMN]).to_pylist():
        _, p, o = text.removeprefix("kafka:").split("/")
        out.append((int(p), int(o)))
    return out
