"""The raw text of rejected lines is looked up by line number, whatever order the chunk has."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pytest

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


def test_a_records_shape_is_the_hash_of_its_keys_in_any_order() -> None:
    """The planned keys in the planned order take a constant shape: it must be the hash the
    other records' keys are given, or a record like every other would count as new."""
    con = duckdb.connect()
    texts = [
        '{"a": 1, "c": {"x": 1, "y": "p"}}\n',  # as planned
        '{"c": {"x": 2, "y": "q"}, "a": 2}\n',  # other order
        '{"a": 3, "c": {"y": "r", "x": 3}}\n',
        '{"a": 4, "c": {"x": 4, "y": "s", "z": 0}}\n',  # a key more
        '{"a": 5}\n',
    ]
    types = {"a": "BIGINT", "c": "STRUCT(x BIGINT, y VARCHAR)"}
    decoded = decode(con, chunk(list(range(1, 6)), texts), types, lazy=True)
    try:
        got = con.sql(
            f"SELECT {LINE_COLUMN}, __hw_shape, a, c.x, __hw_reject FROM {decoded.table} ORDER BY 1"
        ).fetchall()
        expected = con.sql(
            f"SELECT {LINE_COLUMN}, hash(json_keys({RAW_COLUMN}), json_keys({RAW_COLUMN}, '$.\"c\"')) "
            f"FROM {decoded.registered} ORDER BY 1"
        ).fetchall()
    finally:
        decoded.drop(con)
    assert [(line, shape) for line, shape, *_ in got] == expected
    assert len({shape for _, shape, *_ in got}) == 5  # order and keys tell the shapes apart
    assert [(a, x, bad) for _, _, a, x, bad in got] == [
        (1, 1, None),
        (2, 2, None),
        (3, 3, None),
        (4, 4, None),
        (5, None, None),
    ]


def test_types_are_taken_from_the_whole_sample_not_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first records only rule types out: what they cannot settle, the sample does."""
    import headwater.sources.decode as decode_module

    monkeypatch.setattr(decode_module, "_PROBE_ROWS", 2)
    rows = [
        {"ts": "2026-01-02T03:04:05", "day": None, "n": 1, "big": 1, "huge": 1, "w": "x"},
        {"ts": "2026-01-02T03:04:06", "day": None, "n": 2, "big": 2, "huge": 2, "w": "2026-01-02"},
        {"ts": "2026-01-02T03:04:07", "day": "2026-01-03", "n": 3, "big": 3, "huge": 3, "w": "2026-01-02"},
        {"ts": "not a time", "day": "2026-01-04", "n": 1.5, "big": 2**63, "huge": 10**23, "w": "2026-01-02"},
    ]
    texts = [json.dumps(r) + "\n" for r in rows]
    con = duckdb.connect()
    decoded = decode(con, chunk(list(range(1, 5)), texts), {})
    try:
        assert decoded.columns == {
            "ts": "VARCHAR",
            "day": "DATE",
            "n": "DOUBLE",
            "big": "HUGEINT",
            "huge": "HUGEINT",  # (beyond UBIGINT: DuckDB's reader calls it DOUBLE)
            "w": "VARCHAR",
        }
    finally:
        decoded.drop(con)
