"""Typing extracted values in DuckDB: infer types of new text columns, cast every column to its
type with TRY_CAST, and reject (per record) the values that do not fit."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

from headwater.lake import quote
from headwater.sources.exact import canonical, lossless, special

REASON = "__hw_reason"
BAD = "__hw_bad"
# The inference ladder for text: the first type every value is the canonical text of.
_CANDIDATES = ("BIGINT", "HUGEINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP", "TIMESTAMPTZ")
# Widening an existing column (under EVOLVE) never changes a stored value: integers to wider
# integers; an integer column to DOUBLE only while every value in it is at most 2^53 in
# magnitude (``EXACT_IN_DOUBLE``: the caller checks the table).
NUMERIC_WIDENING = {
    ("INTEGER", "BIGINT"),
    ("INTEGER", "HUGEINT"),
    ("BIGINT", "HUGEINT"),
    ("INTEGER", "DOUBLE"),
    ("FLOAT", "DOUBLE"),
}
EXACT_IN_DOUBLE = {("BIGINT", "DOUBLE"), ("HUGEINT", "DOUBLE")}
DOUBLE_INTEGERS = 2**53  # integers up to this magnitude are exact in a DOUBLE
_names = itertools.count()


def try_cast(src: str, typ: str) -> str:
    """TRY_CAST that never changes the value (see ``headwater.sources.exact``): text like '1.5'
    does not become the integer 2, nor '1e400' an infinity."""
    return lossless(src, typ)


def infer_text_types(
    con: duckdb.DuckDBPyConnection, view: str, names: list[str], sample: int = 100_000
) -> dict[str, str]:
    """For text columns: the first of ``_CANDIDATES`` whose canonical text every non-empty
    value is (over a sample), else VARCHAR. A DOUBLE column may also hold NaN, Infinity and
    -Infinity, but not only them. The candidates are first tried on the sample's first
    ``_PROBE`` rows; only those every value there fits are tried on the whole sample (a
    candidate that fails on a few rows fails on all of them: most of a column's are ruled out
    at a fiftieth of the cost)."""
    if not names:
        return {}
    left = {n: list(_CANDIDATES) for n in names}
    if sample > _PROBE:
        left = _fitting(con, view, left, _PROBE, final=False)
    left = _fitting(con, view, left, sample, final=True)
    return {n: left[n][0] if left[n] else "VARCHAR" for n in names}


_PROBE = 2_000


def _fitting(
    con: duckdb.DuckDBPyConnection, view: str, candidates: dict[str, list[str]], sample: int, *, final: bool
) -> dict[str, list[str]]:
    """Of each column's ``candidates``, those every non-empty value of the first ``sample``
    rows fits, in order. ``final``: a column without values there fits none, and a DOUBLE
    column must have one value that is not NaN or an infinity; else (a probe) such a column
    keeps its candidates."""
    parts: list[str] = []
    asked: list[tuple[str, list[str]]] = []
    for i, (name, types) in enumerate(candidates.items()):
        if not types:
            continue
        v = f"NULLIF({quote(name)}, '')"
        parts.append(f"count({v}) AS n{i}")
        parts.extend(
            f"count(*) FILTER (WHERE {canonical(v, typ)}) AS c{i}_{j}" for j, typ in enumerate(types)
        )
        parts.append(f"count(*) FILTER (WHERE {special(v)}) AS s{i}")
        asked.append((name, types))
    out: dict[str, list[str]] = {n: t for n, t in candidates.items() if not t}
    if not parts:
        return out
    row = con.sql(f"SELECT {', '.join(parts)} FROM (FROM {view} LIMIT {sample})").fetchone()
    assert row is not None
    at = 0
    for name, types in asked:
        n, *counts, specials = row[at : at + len(types) + 2]
        at += len(types) + 2
        if not n:
            out[name] = [] if final else types
            continue
        out[name] = [
            typ
            for typ, c in zip(types, counts, strict=True)
            if c == n or (typ == "DOUBLE" and (c or not final) and c + specials == n)
        ]
    return out


def plan_columns(
    inferred: dict[str, Any],
    table_types: dict[str, str],
    evolve: bool,
    exact_in_double: Callable[[str], bool] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Column -> type to read with. Existing columns keep their type, or are widened when the
    data needs it, the lake allows it and no stored value changes (``NUMERIC_WIDENING``; an
    integer column to DOUBLE only if ``exact_in_double(column)``; new fields of a STRUCT).
    ``widen`` maps an existing column to the type to widen it to."""
    columns: dict[str, Any] = {}
    widen: dict[str, str] = {}
    for key, typ in inferred.items():
        have = table_types.get(key)
        if have is None:
            columns[key] = typ
        elif (
            evolve
            and isinstance(typ, str)
            and (
                (have, typ) in NUMERIC_WIDENING
                or ((have, typ) in EXACT_IN_DOUBLE and exact_in_double is not None and exact_in_double(key))
            )
        ):
            columns[key] = typ
            widen[key] = typ

        elif (
            evolve
            and isinstance(typ, (dict, list))
            and (have.upper().startswith("STRUCT") or have.endswith("]"))
        ):
            # Read the fields the table lacks too (in objects, and in lists' elements, at any
            # depth); the table gains those that are stored (after transformations and
            # exclusions) when the rows are written.
            columns[key] = _merge_nested(_duck_type(have), typ)
        else:
            columns[key] = have
    return columns, widen


def _duck_type(text: str) -> Any:
    return duckdb.sql(f"SELECT NULL::{text}").types[0]


def sql_type(node: Any) -> str:
    """A json_transform structure node as a DuckDB type."""
    if isinstance(node, dict):
        return "STRUCT(" + ", ".join(f"{quote(k)} {sql_type(v)}" for k, v in node.items()) + ")"
    if isinstance(node, list):
        return f"{sql_type(node[0])}[]"
    return str(node)


def _merge_nested(have: Any, inferred: Any) -> Any:
    """The table's type (a DuckDB type) as a json_transform structure, plus the fields the
    data's structure ``inferred`` has that its objects lack, at any depth."""
    if have.id == "list" and isinstance(inferred, list) and inferred:
        return [_merge_nested(have.children[0][1], inferred[0])]
    if have.id != "struct" or not isinstance(inferred, dict):
        return str(have)
    known = {str(name): child for name, child in have.children}
    merged: dict[str, Any] = {name: _merge_nested(child, inferred.get(name)) for name, child in known.items()}
    lowered = {name.lower() for name in known}
    for name, sub in inferred.items():
        # (a field that differs from one of the table's only in case is not a new field: no
        # STRUCT can hold both; such a record does not fit, and is quarantined)
        if name.lower() not in lowered:
            merged[name] = sub
    return merged


def cast_to_table(
    con: duckdb.DuckDBPyConnection,
    source: Callable[[str], str],
    columns: dict[str, Any],
    text_columns: set[str],
    line_col: str,
    *,
    empty_is_null: bool,
) -> tuple[str, pa.Table]:
    """Materialise ``source("true")`` cast to ``columns`` as a temp table (returned by name, with
    ``__hw_line``); records with a value that does not cast are removed from it and returned
    as (line, reason) — the reason names the column and the expected type, never the value."""
    casts, checks, reasons = [], [], []
    for key, typ in columns.items():
        col = quote(key)
        if key in text_columns and typ != "VARCHAR":
            src = f"NULLIF({col}, '')" if empty_is_null else col
            cast = try_cast(src, typ)
            casts.append(f"{cast} AS {col}")
            checks.append(f"({src} IS NOT NULL AND ({cast}) IS NULL)")
            reason = f"column {key}: expected {typ}".replace("'", "''")
            reasons.append(f"CASE WHEN {src} IS NOT NULL AND ({cast}) IS NULL THEN '{reason}' END")
        else:
            casts.append(col)
    name = f"hw_typed_{next(_names)}"
    bad = " OR ".join(checks) if checks else "false"
    selected = ", ".join([line_col, *casts, f"{bad} AS {BAD}"])
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT {selected} FROM {source('true')}")
    rejected = pa.table({line_col: pa.array([], pa.int64()), REASON: pa.array([], pa.string())})
    if checks and con.sql(f"SELECT count(*) FROM {name} WHERE {BAD}").fetchone() != (0,):
        # Only the few bad records are looked at again, to say which value did not fit.
        con.register("hw_bad_lines", con.sql(f"SELECT {line_col} FROM {name} WHERE {BAD}").to_arrow_table())
        try:
            only = f"{line_col} IN (SELECT {line_col} FROM hw_bad_lines)"
            rejected = con.sql(
                f"SELECT {line_col}, concat_ws('; ', {', '.join(reasons)}) AS {REASON} FROM {source(only)} "
                f"ORDER BY {line_col}"
            ).to_arrow_table()
        finally:
            con.unregister("hw_bad_lines")
        con.execute(f"DELETE FROM {name} WHERE {BAD}")
    return name, rejected
