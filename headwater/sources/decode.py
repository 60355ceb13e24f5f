"""Turning raw chunks into typed Arrow tables, in DuckDB (vectorised, no per-row Python).

JSON lines: each line is checked (UTF-8, JSON, an object), the structure of the chunk is
inferred (from a sample, plus every top-level key seen anywhere in the chunk) and
``json_transform`` extracts the values. Top-level scalars are extracted as text and cast to
their column type with TRY_CAST, so a value that does not fit its column is caught per record
instead of silently becoming NULL. Columns that already exist keep the table's type;
timestamps written as ISO-8601 strings become TIMESTAMP / TIMESTAMPTZ, dates DATE.

Records that cannot be read come back in ``Decoded.rejected`` with their raw text and a reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from headwater.sources.files import LINE_COLUMN, RAW_COLUMN, FileChunk
from headwater.sources.typing import BAD, REASON, cast_to_table, infer_text_types, plan_columns

SAMPLE_ROWS = 20_000
_INTEGER = {
    "HUGEINT",
    "UHUGEINT",
    "UBIGINT",
    "BIGINT",
    "UINTEGER",
    "INTEGER",
    "USMALLINT",
    "SMALLINT",
    "UTINYINT",
    "TINYINT",
}


@dataclass
class Decoded:
    """Typed rows in a DuckDB temp table (``table``, with ``__hw_line``), their columns, the
    records that could not be read, and existing columns the data needs widened."""

    table: str
    columns: dict[str, str]
    rows: int
    rejected: pa.Table  # __hw_line, __hw_raw, __hw_reason
    blank: int  # blank lines skipped (not records)
    widen: dict[str, str] = field(default_factory=dict)

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"DROP TABLE IF EXISTS {self.table}")


def concat_rejected(tables: list[pa.Table]) -> pa.Table:
    schema = empty_rejected().schema
    table = pa.concat_tables([t.select(schema.names).cast(schema) for t in tables] or [empty_rejected()])
    raw = pc.utf8_rtrim(table[RAW_COLUMN], characters="\r\n")  # the line's text, without its ending
    return table.set_column(table.schema.get_field_index(RAW_COLUMN), RAW_COLUMN, raw)


def empty_rejected() -> pa.Table:
    return pa.table(
        {
            LINE_COLUMN: pa.array([], pa.int64()),
            RAW_COLUMN: pa.array([], pa.large_string()),
            REASON: pa.array([], pa.string()),
        }
    )


def decode(
    con: duckdb.DuckDBPyConnection, chunk: FileChunk, table_types: dict[str, str], *, evolve: bool = True
) -> Decoded:
    if chunk.format == "JSON":
        return _decode_json(con, chunk.table, table_types, evolve)
    if chunk.format == "CSV":
        return _decode_csv(con, chunk, table_types, evolve)
    return _decode_parquet(con, chunk)


def _finish(
    con: duckdb.DuckDBPyConnection,
    name: str,
    raw: pa.Table,
    cast_failures: pa.Table,
    rejected: list[pa.Table],
    blank: int,
    widen: dict[str, str],
) -> Decoded:
    """Attach raw text to cast failures (looked up by line) and describe the typed table."""
    if cast_failures.num_rows:
        index = pc.index_in(cast_failures[LINE_COLUMN], value_set=raw[LINE_COLUMN].combine_chunks())
        texts = raw[RAW_COLUMN].take(index)
        rejected.append(
            pa.table(
                {LINE_COLUMN: cast_failures[LINE_COLUMN], RAW_COLUMN: texts, REASON: cast_failures[REASON]}
            )
        )
    rel = con.sql(f"SELECT * EXCLUDE ({BAD}) FROM {name} LIMIT 0")
    columns = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True) if c != LINE_COLUMN}
    count = con.sql(f"SELECT count(*) FROM {name}").fetchone()
    return Decoded(name, columns, int(count[0]) if count else 0, concat_rejected(rejected), blank, widen)


def _valid_utf8(raw: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Split lines into valid UTF-8 and rejected ones (rare: only then per-line checks run)."""
    column = raw.column(RAW_COLUMN)
    try:
        column.validate(full=True)
        return raw, empty_rejected()
    except pa.ArrowInvalid:
        pass
    as_binary = pc.cast(column, pa.large_binary())
    ok = pa.array([_is_utf8(v) for v in as_binary.to_pylist()], pa.bool_())
    bad = raw.filter(pc.invert(ok))
    texts = [
        v.decode("utf-8", errors="replace")
        for v in pc.cast(bad.column(RAW_COLUMN), pa.large_binary()).to_pylist()
    ]
    rejected = pa.table(
        {
            LINE_COLUMN: bad.column(LINE_COLUMN),
            RAW_COLUMN: pa.array(texts, pa.large_string()),
            REASON: pa.array(["invalid UTF-8"] * bad.num_rows, pa.string()),
        }
    )
    return raw.filter(ok), rejected


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _decode_json(
    con: duckdb.DuckDBPyConnection, raw: pa.Table, table_types: dict[str, str], evolve: bool
) -> Decoded:
    raw, bad_utf8 = _valid_utf8(raw)
    rejected = [bad_utf8]
    blank = 0
    con.register("hw_chunk", raw)
    try:
        # Every top-level key, and the lines without any (malformed, not an object, or an empty
        # object); only those few are looked at again. (json_valid first: TRY() would make DuckDB
        # redo a whole vector row by row whenever one line in it is malformed.)
        groups = con.sql(
            f"""SELECT k, list({LINE_COLUMN}) FILTER (WHERE k IS NULL OR len(k) = 0) FROM
                (SELECT {LINE_COLUMN}, CASE WHEN json_valid({RAW_COLUMN}) THEN json_keys({RAW_COLUMN}) END AS k
                 FROM hw_chunk) GROUP BY k"""
        ).fetchall()
        keys = list(dict.fromkeys(key for k, _ in groups if k for key in k))
        suspects = [line for k, lines in groups if not k for line in (lines or [])]
        if suspects:
            is_suspect = pc.is_in(raw[LINE_COLUMN], value_set=pa.array(suspects, pa.int64()))
            con.register("hw_others", raw.filter(is_suspect))
            try:
                problems = con.sql(
                    f"""SELECT {LINE_COLUMN}, {RAW_COLUMN},
                        CASE WHEN trim({RAW_COLUMN}, ' \t\r\n') = '' THEN 'blank'
                             WHEN NOT json_valid({RAW_COLUMN}) THEN 'malformed JSON'
                             WHEN json_type({RAW_COLUMN}) <> 'OBJECT' THEN 'not a JSON object'
                        END AS {REASON}
                    FROM hw_others"""
                ).to_arrow_table()
            finally:
                con.unregister("hw_others")
            problems = problems.filter(pc.is_valid(problems[REASON]))  # {} is a record, with no values
            is_blank = pc.equal(problems[REASON], "blank")
            blank = int(pc.sum(is_blank).as_py() or 0)
            rejected.append(problems.filter(pc.invert(is_blank)))
            if problems.num_rows:
                keep = pc.invert(pc.is_in(raw[LINE_COLUMN], value_set=problems[LINE_COLUMN]))
                raw = raw.filter(keep)
                con.unregister("hw_chunk")
                con.register("hw_chunk", raw)
        inferred = _infer(con, keys, set(table_types)) if raw.num_rows else {}
        columns, widen = plan_columns(inferred, table_types, evolve)
        structure: dict[str, Any] = {}
        text: set[str] = set()
        for key, typ in columns.items():
            nested = (
                not isinstance(typ, str) or typ.endswith("]") or typ.upper().startswith(("STRUCT", "MAP"))
            )
            structure[key] = typ if nested else "VARCHAR"
            if not nested:
                text.add(key)
        spec = json.dumps(structure).replace("'", "''")

        def source(where: str) -> str:
            if not structure:
                return f"(SELECT {LINE_COLUMN} FROM hw_chunk WHERE {where})"
            return f"(SELECT {LINE_COLUMN}, unnest(json_transform({RAW_COLUMN}, '{spec}')) FROM hw_chunk WHERE {where})"

        name, failures = cast_to_table(con, source, columns, text, LINE_COLUMN, empty_is_null=False)
        return _finish(con, name, raw, failures, rejected, blank, widen)
    finally:
        con.unregister("hw_chunk")


def _decode_csv(
    con: duckdb.DuckDBPyConnection, chunk: FileChunk, table_types: dict[str, str], evolve: bool
) -> Decoded:
    text = chunk.table
    names = [c for c in text.column_names if c not in (LINE_COLUMN, RAW_COLUMN)]
    con.register("hw_chunk", text)
    try:
        inferred = infer_text_types(con, "hw_chunk", [n for n in names if n not in table_types])
        inferred.update({n: table_types[n] for n in names if n in table_types})
        columns, widen = plan_columns({n: inferred[n] for n in names}, table_types, evolve)
        name, failures = cast_to_table(
            con,
            lambda where: f"(SELECT * FROM hw_chunk WHERE {where})",
            columns,
            set(names),
            LINE_COLUMN,
            empty_is_null=True,
        )
    finally:
        con.unregister("hw_chunk")
    rejected = [chunk.rejected] if chunk.rejected is not None else []
    return _finish(con, name, text, failures, rejected, 0, widen)


def _decode_parquet(con: duckdb.DuckDBPyConnection, chunk: FileChunk) -> Decoded:
    con.register("hw_chunk", chunk.table)
    try:
        name, failures = cast_to_table(
            con,
            lambda where: f"(SELECT * FROM hw_chunk WHERE {where})",
            {c: None for c in chunk.table.column_names if c != LINE_COLUMN},
            set(),
            LINE_COLUMN,
            empty_is_null=False,
        )
    finally:
        con.unregister("hw_chunk")
    return _finish(con, name, chunk.table, failures, [], 0, {})


def _infer(con: duckdb.DuckDBPyConnection, keys: list[str], known: set[str]) -> dict[str, Any]:
    """The chunk's structure: a sample, plus every top-level key anywhere in the chunk."""
    # The first lines and every k-th line after them: one cheap scan, spread over the chunk.
    bounds = con.sql(f"SELECT min({LINE_COLUMN}), count(*) FROM hw_chunk").fetchone()
    first, count = (int(bounds[0]), int(bounds[1])) if bounds and bounds[0] is not None else (0, 0)
    step = max(1, count // SAMPLE_ROWS)
    row = con.sql(
        f"""SELECT json_group_structure(json({RAW_COLUMN})) FROM hw_chunk
            WHERE {LINE_COLUMN} < {first + SAMPLE_ROWS} OR {LINE_COLUMN} % {step} = 0"""
    ).fetchone()
    inferred: dict[str, Any] = json.loads(row[0]) if row and row[0] else {}
    unseen = [k for k in keys if k not in inferred]
    if unseen:  # keys missing from the sample: infer them from the rows that carry them
        more = con.execute(
            f"""SELECT json_group_structure(json({RAW_COLUMN})) FROM
                (FROM hw_chunk WHERE list_has_any(json_keys({RAW_COLUMN}), ?) LIMIT {SAMPLE_ROWS})""",
            [unseen],
        ).fetchone()
        extra = json.loads(more[0]) if more and more[0] else {}
        inferred.update({k: extra.get(k, "NULL") for k in unseen})
    structure = {k: _normalise(v) for k, v in inferred.items()}
    _detect_temporal(con, structure, known)
    return structure


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


def _detect_temporal(con: duckdb.DuckDBPyConnection, structure: dict[str, Any], known: set[str]) -> None:
    """Top-level VARCHAR keys whose sampled values are all ISO dates/timestamps get that type."""
    # Columns the table already has keep their type: only new text keys are looked at.
    candidates = [k for k, v in structure.items() if v == "VARCHAR" and k not in known]
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
