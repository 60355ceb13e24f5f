"""Typing extracted values in DuckDB: infer types of new text columns, cast every column to its
type with TRY_CAST, and reject (per record) the values that do not fit."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from headwater.lake import quote

REASON = "__hw_reason"
_CANDIDATES = ("BIGINT", "DOUBLE", "BOOLEAN", "DATE")
NUMERIC_WIDENING = {("BIGINT", "DOUBLE"), ("INTEGER", "DOUBLE"), ("INTEGER", "BIGINT"), ("FLOAT", "DOUBLE")}


def infer_text_types(
    con: duckdb.DuckDBPyConnection, view: str, names: list[str], sample: int = 100_000
) -> dict[str, str]:
    """For text columns: the narrowest of BIGINT, DOUBLE, BOOLEAN, DATE, TIMESTAMP[TZ] that every
    non-empty value casts to (over a sample), else VARCHAR."""
    if not names:
        return {}
    parts = []
    for i, name in enumerate(names):
        v = f"NULLIF({quote(name)}, '')"
        parts.append(f"count({v}) AS n{i}")
        for j, typ in enumerate(_CANDIDATES):
            parts.append(f"count(TRY_CAST({v} AS {typ})) AS c{i}_{j}")
        parts.append(
            f"count(*) FILTER (WHERE regexp_matches({v}, '^\\d{{4}}-\\d{{2}}-\\d{{2}}[T ]\\d{{2}}:\\d{{2}}') "
            f"AND TRY_CAST({v} AS TIMESTAMPTZ) IS NOT NULL) AS t{i}"
        )
        parts.append(f"count(*) FILTER (WHERE regexp_matches({v}, '(Z|[+-]\\d{{2}}(:?\\d{{2}})?)$')) AS z{i}")
    row = con.sql(f"SELECT {', '.join(parts)} FROM (FROM {view} LIMIT {sample})").fetchone()
    assert row is not None
    width = 2 + len(_CANDIDATES) + 2
    out: dict[str, str] = {}
    for i, name in enumerate(names):
        n, *counts = row[i * width : (i + 1) * width]
        cast_counts, t, z = counts[: len(_CANDIDATES)], counts[-2], counts[-1]
        out[name] = "VARCHAR"
        if not n:
            continue
        for typ, c in zip(_CANDIDATES, cast_counts, strict=True):
            if c == n:
                out[name] = typ
                break
        else:
            if t == n:
                out[name] = "TIMESTAMPTZ" if z == n else "TIMESTAMP"
    return out


def plan_columns(
    inferred: dict[str, Any], table_types: dict[str, str], evolve: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """Column -> type to read with. Existing columns keep their type, or are widened when the
    data needs it and the lake allows it (integer -> DOUBLE)."""
    columns: dict[str, Any] = {}
    widen: dict[str, str] = {}
    for key, typ in inferred.items():
        have = table_types.get(key)
        if have is None:
            columns[key] = typ
        elif evolve and isinstance(typ, str) and (have, typ) in NUMERIC_WIDENING:
            columns[key] = typ
            widen[key] = typ
        else:
            columns[key] = have
    return columns, widen


def cast_and_check(
    con: duckdb.DuckDBPyConnection,
    view: str,
    columns: dict[str, Any],
    text_columns: set[str],
    line_col: str,
    raw_col: str,
    *,
    empty_is_null: bool,
) -> tuple[pa.Table, pa.Table]:
    """Cast ``text_columns`` to their types; a record with a value that does not cast is
    rejected with the column and expected type as the reason (never the value)."""
    casts, checks = [], []
    for key, typ in columns.items():
        col = quote(key)
        if key in text_columns and typ != "VARCHAR":
            src = f"NULLIF({col}, '')" if empty_is_null else col
            casts.append(f"TRY_CAST({src} AS {typ}) AS {col}")
            reason = f"column {key}: expected {typ}".replace("'", "''")
            checks.append(
                f"CASE WHEN {src} IS NOT NULL AND TRY_CAST({src} AS {typ}) IS NULL THEN '{reason}' END"
            )
        else:
            casts.append(col)
    reason_sql = f"concat_ws('; ', {', '.join(checks)})" if checks else "''"
    con.execute("DROP TABLE IF EXISTS hw_typed")
    con.execute(
        f"CREATE TEMP TABLE hw_typed AS SELECT {line_col}, {raw_col}, {reason_sql} AS {REASON}, "
        f"{', '.join(casts)} FROM {view}"
    )
    try:
        good = con.sql(
            f"SELECT * EXCLUDE ({raw_col}, {REASON}) FROM hw_typed WHERE {REASON} = ''"
        ).to_arrow_table()
        bad = con.sql(
            f"SELECT {line_col}, {raw_col}, {REASON} FROM hw_typed WHERE {REASON} <> ''"
        ).to_arrow_table()
    finally:
        con.execute("DROP TABLE hw_typed")
    return good, bad
