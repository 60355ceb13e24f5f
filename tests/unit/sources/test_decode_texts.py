"""The raw text of rejected lines is looked up by line number, whatever order the chunk has."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from headwater.sources.decode import decode
from headwater.sources.files import LINE_COLUMN, RAW_COLUMN, FileChunk, FilePosition


def chunk(lines: list[int], texts: list[str]) -> FileChunk:
    table = pa.table(
        {LINE_COLUMN: pa.array(lines, pa.int64()), RAW_COLUMN: pa.array(texts, pa.large_string())}
    )
    table = pa.Table.from_batches(table.to_batches(max_chunksize=3))  # several record batches
    pos = FilePosition(0, 1)
    return FileChunk("f.jsonl", "JSON", table, pos, pos, 0)


def test_texts_of_lines_in_any_order_across_batches() -> None:
    con = duckdb.connect()
    lines = [40, 7, 12, 3, 99, 15, 8, 61]  # a replay: lines as the quarantine had them
    texts = [f'{{"n": {n}}}\n' for n in lines]
    decoded = decode(con, chunk(lines, texts), {}, lazy=True)
    try:
        got = decoded.texts(pa.array([3, 61, 40, 8], pa.int64())).to_pylist()
    finally:
        decoded.drop(con)
    assert got == ['{"n": 3}', '{"n": 61}', '{"n": 40}', '{"n": 8}']


def test_a_lazy_chunk_classifies_every_line() -> None:
    con = duckdb.connect()
    texts = ['{"a": 1}\n', "\n", '{"a": \n', "[1, 2]\n", "{}\n", '{"a": "x"}\n', "  \n", "null\n"]
    decoded = decode(con, chunk(list(range(1, 9)), texts), {"a": "BIGINT"}, lazy=True)
    try:
        got = con.sql(f"SELECT {LINE_COLUMN}, a, __hw_reject FROM {decoded.table} ORDER BY 1").fetchall()
    finally:
        decoded.drop(con)
    assert got == [
        (1, 1, None),
        (2, None, ""),  # blank: not a record
        (3, None, "malformed JSON"),
        (4, None, "not a JSON object"),
        (5, None, None),  # {} is a record without values
        (6, None, "column a: expected BIGINT"),
        (7, None, ""),
        (8, None, "not a JSON object"),
    ]
