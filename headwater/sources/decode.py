"""Turning raw chunks into typed Arrow tables, in DuckDB (vectorised, no per-row Python).

JSON lines: each line is validated, the structure of the chunk is inferred (from a sample,
plus every top-level key seen anywhere in the chunk), and ``json_transform`` types the rows.
Columns that already exist in the target table keep the table's type. Timestamps written as
ISO-8601 strings become TIMESTAMP / TIMESTAMPTZ, dates DATE.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from headwater.sources.files import LINE_COLUMN, RAW_COLUMN, FileChunk

SAMPLE_ROWS = 20_000
_INTEGER = {"UBIGINT", "BIGINT", "UINTEGER", "INTEGER", "USMALLINT", "SMALLINT", "UTINYINT", "TINYINT"}


@dataclass
class Decoded:
    """Typed rows (with ``__hw_line``) and the records that could not be read."""

    table: pa.Table
    malformed: pa.Table  # __hw_line, __hw_raw, reason
    blank: int  # blank lines skipped (not records)


def decode(con: duckdb.DuckDBPyConnection, chunk: FileChunk, table_types: dict[str, str]) -> Decoded:
    if chunk.format == "JSON":
        return _decode_json(con, chunk.table, table_types)
    return Decoded(chunk.table, _empty_malformed(), 0)


def _empty_malformed() -> pa.Table:
    return pa.table(
        {
            LINE_COLUMN: pa.array([], pa.int64()),
            RAW_COLUMN: pa.array([], pa.large_string()),
            "reason": pa.array([], pa.string()),
        }
    )


def _decode_json(con: duckdb.DuckDBPyConnection, raw: pa.Table, table_types: dict[str, str]) -> Decoded:
    con.register("hw_chunk", raw)
    try:
        classified = con.sql(
            f"""SELECT {LINE_COLUMN}, {RAW_COLUMN},
                CASE WHEN trim({RAW_COLUMN}, ' \t\r\n') = '' THEN 'blank'
                     WHEN NOT json_valid({RAW_COLUMN}) THEN 'malformed JSON'
                     WHEN json_type({RAW_COLUMN}) <> 'OBJECT' THEN 'not a JSON object'
                END AS reason
            FROM hw_chunk"""
        )
        problems = classified.filter("reason IS NOT NULL").to_arrow_table()
        if problems.num_rows:
            blank = int(pa.compute.sum(pa.compute.equal(problems["reason"], "blank")).as_py() or 0)
            malformed = problems.filter(pa.compute.not_equal(problems["reason"], "blank"))
            good = classified.filter("reason IS NULL").select(LINE_COLUMN, RAW_COLUMN).to_arrow_table()
            con.unregister("hw_chunk")
            con.register("hw_chunk", good)
        else:
            blank, malformed = 0, _empty_malformed()
        structure = _structure(con, table_types)
        if not structure:
            typed = con.sql(f"SELECT {LINE_COLUMN} FROM hw_chunk").to_arrow_table()
        else:
            typed = con.sql(
                f"SELECT {LINE_COLUMN}, unnest(json_transform({RAW_COLUMN}, ?)) FROM hw_chunk",
                params=[json.dumps(structure)],
            ).to_arrow_table()
        return Decoded(typed, malformed, blank)
    finally:
        con.unregister("hw_chunk")


def _structure(con: duckdb.DuckDBPyConnection, table_types: dict[str, str]) -> dict[str, Any]:
    """The JSON structure to type this chunk with: table types win, new keys are inferred."""
    inferred_row = con.sql(
        f"""SELECT json_group_structure(json({RAW_COLUMN})) FROM (
            SELECT {RAW_COLUMN} FROM (FROM hw_chunk LIMIT {SAMPLE_ROWS})
            UNION ALL SELECT {RAW_COLUMN} FROM (FROM hw_chunk USING SAMPLE {SAMPLE_ROWS} ROWS))"""
    ).fetchone()
    inferred: dict[str, Any] = json.loads(inferred_row[0]) if inferred_row and inferred_row[0] else {}
    keys_row = con.sql(
        f"SELECT list(DISTINCT k) FROM (SELECT unnest(json_keys({RAW_COLUMN})) k FROM hw_chunk)"
    ).fetchone()
    keys: list[str] = list(keys_row[0]) if keys_row and keys_row[0] else []
    unseen = [k for k in keys if k not in inferred]
    if unseen:  # keys missing from the sample: infer them from the rows that carry them
        more = con.sql(
            f"""SELECT json_group_structure(json({RAW_COLUMN})) FROM
                (FROM hw_chunk WHERE list_has_any(json_keys({RAW_COLUMN}), ?) LIMIT {SAMPLE_ROWS})""",
            params=[unseen],
        ).fetchone()
        extra = json.loads(more[0]) if more and more[0] else {}
        inferred.update({k: extra.get(k, "NULL") for k in unseen})
    structure: dict[str, Any] = {}
    for key in keys_in_order(inferred, keys):
        if key in table_types:
            structure[key] = table_types[key]
        else:
            structure[key] = _normalise(inferred[key])
    _detect_temporal(con, structure, table_types)
    return structure


def keys_in_order(inferred: dict[str, Any], keys: list[str]) -> list[str]:
    ordered = list(inferred)
    ordered.extend(k for k in keys if k not in inferred)
    return ordered


def _normalise(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _normalise(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_normalise(node[0])] if node else ["VARCHAR"]
    if node in _INTEGER:
        return "BIGINT"
    if node in ("NULL", "JSON"):
        return "VARCHAR"
    return node


def _detect_temporal(
    con: duckdb.DuckDBPyConnection, structure: dict[str, Any], table_types: dict[str, str]
) -> None:
    """New top-level VARCHAR keys whose sampled values are all ISO dates/timestamps get that type."""
    candidates = [k for k, v in structure.items() if v == "VARCHAR" and k not in table_types]
    if not candidates:
        return
    checks = []
    for i, key in enumerate(candidates):
        path = ("$." + json.dumps(key)).replace("'", "''")
        v = f"({RAW_COLUMN} ->> '{path}')"
        checks.append(
            f"""count({v}) AS n{i},
            count(*) FILTER (WHERE regexp_full_match({v}, '\\d{{4}}-\\d{{2}}-\\d{{2}}')) AS d{i},
            count(*) FILTER (WHERE regexp_matches({v}, '^\\d{{4}}-\\d{{2}}-\\d{{2}}[T ]\\d{{2}}:\\d{{2}}')
                AND TRY_CAST({v} AS TIMESTAMPTZ) IS NOT NULL) AS t{i},
            count(*) FILTER (WHERE regexp_matches({v}, '(Z|[+-]\\d{{2}}(:?\\d{{2}})?)$')) AS z{i}"""
        )
    row = con.sql(f"SELECT {', '.join(checks)} FROM (FROM hw_chunk LIMIT {SAMPLE_ROWS})").fetchone()
    assert row is not None
    for i, key in enumerate(candidates):
        n, d, t, z = row[4 * i : 4 * i + 4]
        if not n:
            continue
        if d == n:
            structure[key] = "DATE"
        elif t == n:
            structure[key] = "TIMESTAMPTZ" if z == n else "TIMESTAMP"
