"""Turning raw chunks into typed Arrow tables, in DuckDB (vectorised, no per-row Python).

JSON lines become one DuckDB query over the chunk (``Decoded.table`` is that query, *lazy*,
when the caller allows it): each line is checked (JSON, an object), ``json_transform``
extracts the values, top-level scalars are extracted as text and cast to their column type
without changing them (``headwater.sources.exact``), so a value that does not fit its column
is caught per record instead of silently becoming NULL or another value. Keys are mapped to
columns by ``headwater.sources.keys`` (case-insensitively; reserved names renamed). A line that cannot be read keeps its place with the reason in
``__hw_reject``; ``__hw_shape`` is a hash of its keys, so the caller can tell whether every
record's keys were planned for. The plan: the table's columns when it has them (and no nested
ones), else the structure inferred from a sample plus every top-level key in the chunk.
Columns that already exist keep the table's type; timestamps written as ISO-8601 strings
become TIMESTAMP / TIMESTAMPTZ, dates DATE, integers beyond BIGINT HUGEINT.

Records that cannot be read come back in ``Decoded.rejected`` with their raw text and a reason
(or, for a lazy query, as rows whose ``__hw_reject`` is set).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.lake import quote
from headwater.sources.errors import NoColumns
from headwater.sources.exact import INTEGERS, canonical, lossless, try_cast
from headwater.sources.files import LINE_COLUMN, RAW_COLUMN, FileChunk, int64_array
from headwater.sources.keys import clash_reason, group, key_sources, merged_type, nested_clash
from headwater.sources.nested import exact_nested, structure_of
from headwater.sources.raw import INVALID_UTF8, encoded
from headwater.sources.typing import BAD, REASON, cast_to_table, infer_text_types, plan_columns, sql_type

SAMPLE_ROWS = 20_000
# A chunk of a table whose columns are known is planned from a smaller sample (the first rows
# and as many spread over the chunk): the table gives its columns' types, and every record's
# keys are checked against the plan (``SHAPE``); a chunk with a key not planned for is planned
# again from that record's keys and values.
KNOWN_SAMPLE_ROWS = 5_000
REJECT = "__hw_reject"  # why a line could not be read (NULL: it could; BLANK: not a record)
BLANK = ""
SHAPE = "__hw_shape"  # hash of a record's top-level keys
_chunks = itertools.count()
_WIDE = {"UBIGINT", "HUGEINT", "UHUGEINT", "DOUBLE"}  # top-level: HUGEINT if all integers


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
    lazy: bool = False  # ``table`` is a query over ``raw`` (registered as ``registered``)
    raw: pa.Table | None = None  # the chunk's lines (__hw_line, __hw_raw), for rejected texts
    registered: str | None = None
    structs: dict[str, set[str]] = field(default_factory=dict)  # STRUCT column -> its fields
    passed: list[str] = field(default_factory=list)  # the chunk's other columns, passed through

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.lazy:
            if self.registered:
                con.unregister(self.registered)
        else:
            con.execute(f"DROP TABLE IF EXISTS {self.table}")

    def texts(self, lines: pa.Array | pa.ChunkedArray) -> pa.Array:
        """The raw text of the given lines of a lazy chunk (only those few are copied)."""
        assert self.raw is not None
        have = np.concatenate([c.to_numpy() for c in self.raw[LINE_COLUMN].chunks] or [np.empty(0, np.int64)])
        want = np.asarray(lines.to_numpy(), np.int64)
        if len(have) > 1 and not bool(np.all(have[1:] > have[:-1])):
            order = np.argsort(have, kind="stable")
            pos = order[np.searchsorted(have[order], want)]
        else:
            pos = np.searchsorted(have, want)
        column = self.raw[RAW_COLUMN]
        bounds = np.cumsum([0] + [len(c) for c in column.chunks])
        which = np.searchsorted(bounds, pos, side="right") - 1
        pieces = [
            column.chunk(int(i)).take(int64_array(pos[which == i] - bounds[i])) for i in np.unique(which)
        ]
        # take() per batch keeps each batch's order: put the lines back in the order asked for
        taken = pa.concat_arrays(pieces) if pieces else pa.array([], pa.large_string())
        back = np.argsort(np.argsort(which, kind="stable"), kind="stable")
        return pc.utf8_rtrim(taken.take(int64_array(back)), characters="\r\n")


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
    con: duckdb.DuckDBPyConnection,
    chunk: FileChunk,
    table_types: dict[str, str],
    *,
    evolve: bool = True,
    lazy: bool = False,
    sample_lines: list[int] | None = None,
    exact_in_double: Callable[[str], bool] | None = None,
) -> Decoded:
    """``lazy``: JSON may come back as a query (see the module docstring). ``sample_lines``:
    plan JSON from the chunk itself (never only from the table), with these lines in the sample.
    ``exact_in_double(column)``: whether an integer column may be widened to DOUBLE."""
    if chunk.format == "JSON":
        decoded = _decode_json(con, chunk.table, table_types, evolve, lazy, sample_lines, exact_in_double)
        if chunk.rejected is not None:  # lines cut out by the source (longer than batch_bytes)
            decoded.rejected = concat_rejected([decoded.rejected, chunk.rejected])
        return decoded
    if chunk.format == "CSV":
        return _decode_csv(con, chunk, table_types, evolve, exact_in_double)
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
        rejected.append(_rejected_lines(raw, cast_failures[LINE_COLUMN], cast_failures[REASON]))
    rel = con.sql(f"SELECT * EXCLUDE ({BAD}) FROM {name} LIMIT 0")
    columns = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True) if c != LINE_COLUMN}
    count = con.sql(f"SELECT count(*) FROM {name}").fetchone()
    return Decoded(name, columns, int(count[0]) if count else 0, concat_rejected(rejected), blank, widen)


def _rejected_lines(raw: pa.Table, lines: pa.ChunkedArray, reasons: pa.ChunkedArray) -> pa.Table:
    """``lines`` of the chunk ``raw`` with their raw text (looked up by line) and ``reasons``."""
    index = pc.index_in(lines, value_set=raw[LINE_COLUMN].combine_chunks())
    return pa.table({LINE_COLUMN: lines, RAW_COLUMN: raw[RAW_COLUMN].take(index), REASON: reasons})


def _valid_utf8(raw: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Split lines into valid UTF-8 and rejected ones, kept as base64 (``headwater.sources.raw``;
    rare: only then per-line checks run)."""
    column = raw.column(RAW_COLUMN)
    try:
        column.validate(full=True)
        return raw, empty_rejected()
    except pa.ArrowInvalid:
        pass
    as_binary = pc.cast(column, pa.large_binary())
    ok = pa.array([_is_utf8(v) for v in as_binary.to_pylist()], pa.bool_())
    bad = raw.filter(pc.invert(ok))
    rejected = pa.table(
        {
            LINE_COLUMN: bad.column(LINE_COLUMN),
            RAW_COLUMN: encoded(pc.cast(bad.column(RAW_COLUMN), pa.large_binary()).to_pylist()),
            REASON: pa.array([INVALID_UTF8] * bad.num_rows, pa.string()),
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
    con: duckdb.DuckDBPyConnection,
    raw: pa.Table,
    table_types: dict[str, str],
    evolve: bool,
    lazy: bool,
    sample_lines: list[int] | None,
    exact_in_double: Callable[[str], bool] | None,
) -> Decoded:
    raw, bad_utf8 = _valid_utf8(raw)
    passed = [c for c in raw.column_names if c not in (LINE_COLUMN, RAW_COLUMN)]
    name = f"hw_chunk_{next(_chunks)}"
    con.register(name, raw)
    try:
        checkable = all(not _is_nested(t) or _flat_struct(t) for t in table_types.values())
        if lazy and sample_lines is None and table_types and checkable:
            # The table's columns (else, below, a sample's); the caller checks every record's
            # shape and plans again from the whole chunk if a key was not planned for.
            columns: dict[str, Any] = dict(table_types)
            widen: dict[str, str] = {}
            sources: dict[str, list[str]] = {}
        else:
            keys: list[str] = []
            if not lazy or sample_lines is not None:  # every key of the chunk, not only the sample's
                keys = _all_keys(con, name)
            inferred = _infer(con, name, raw, keys, set(table_types), sample_lines or [])
            sources = group(list(inferred), table_types)
            merged = {c: merged_type([inferred[k] for k in ks]) for c, ks in sources.items()}
            merged = {c: "VARCHAR" if nested_clash(t) else t for c, t in merged.items()}
            columns, widen = plan_columns(merged, table_types, evolve, exact_in_double)
            _check_names(con, name, columns)
            missed = _unplanned_objects(con, name, columns, sources, shape_checked=lazy)
            if missed and not set(missed) <= set(sample_lines or []):
                # keys the sample lacks, in objects nested deeper: plan them too
                return _decode_json(
                    con,
                    raw,
                    table_types,
                    evolve,
                    lazy,
                    sorted({*(sample_lines or []), *missed}),
                    exact_in_double,
                )
        query = _json_query(name, columns, sources, passed, strict=not evolve)
        if lazy:
            rel = con.sql(f"SELECT * EXCLUDE ({LINE_COLUMN}, {SHAPE}, {REJECT}) FROM {query} LIMIT 0")
            typed = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True) if c not in passed}
            structs = {
                c: {str(n) for n, _ in t.children}
                for c, t in zip(rel.columns, rel.types, strict=True)
                if t.id == "struct" and c not in passed
            }
            decoded = Decoded(query, typed, -1, concat_rejected([bad_utf8]), 0, widen, True, raw, name)
            decoded.structs = structs
            decoded.passed = passed
            return decoded
        decoded = _materialise(con, query, raw, bad_utf8, widen, name)
        decoded.columns = {c: t for c, t in decoded.columns.items() if c not in passed}
        decoded.passed = passed
        return decoded
    except BaseException:
        con.unregister(name)
        raise


def _object_paths(
    columns: dict[str, Any], sources: dict[str, list[str]], shape_checked: bool
) -> list[tuple[str, list[str]]]:
    """(JSON path, planned keys) of every object the planned columns hold: objects in objects,
    and the elements of lists, at any depth. Without ``shape_checked``, the columns' own
    objects too (a lazy chunk's ``SHAPE`` covers those)."""
    out: list[tuple[str, list[str]]] = []

    def walk(node: Any, path: str, top: bool) -> None:
        if isinstance(node, dict):
            if not (top and shape_checked):
                out.append((path, list(node)))
            for k, v in node.items():
                walk(v, f"{path}.{json.dumps(k)}", False)
        elif isinstance(node, list) and node:
            walk(node[0], f"{path}[*]", False)

    for column, typ in columns.items():
        if _is_nested(typ):
            for key in sources.get(column) or key_sources(column):
                walk(structure_of(typ), "$." + json.dumps(key), True)
    return out


def _unplanned_objects(
    con: duckdb.DuckDBPyConnection,
    chunk: str,
    columns: dict[str, Any],
    sources: dict[str, list[str]],
    *,
    shape_checked: bool,
) -> list[int]:
    """Lines (up to 100) of records with an object holding a key the plan lacks (json_transform
    would drop its value without a word): they join the sample, and the chunk is planned again.
    The plan came from a sample; each such round plans at least one more key."""
    paths = _object_paths(columns, sources, shape_checked)
    if not paths:
        return []
    rows = con.sql(
        f"SELECT {LINE_COLUMN} FROM {chunk} WHERE json_valid({RAW_COLUMN}) AND NOT {_fits(paths)} "
        f"ORDER BY {LINE_COLUMN} LIMIT 100"
    ).fetchall()
    return [int(r[0]) for r in rows]


def _fits(paths: list[tuple[str, list[str]]]) -> str:
    """SQL: every object at ``paths`` of the (valid JSON) record has only the keys given."""
    fits = []
    for path, keys in paths:
        found = f"json_keys({RAW_COLUMN}, {_literal(path)})"
        if "[*]" in path:  # (one list of keys per element, however deep)
            found = f"flatten({found})"
        fits.append(f"coalesce(list_has_all({_list(keys)}, {found}), true)")
    return f"({' AND '.join(fits)})"


def _check_names(con: duckdb.DuckDBPyConnection, chunk: str, columns: dict[str, Any]) -> None:
    """Records with no fields at all (only ``{}`` or blank lines), or with a key ``""``, give no
    column to store: an error naming the first such line, not a failing query."""
    if not columns:
        row = con.sql(
            f"SELECT min({LINE_COLUMN}) FROM {chunk} WHERE NOT regexp_full_match({RAW_COLUMN}, '\\s*')"
        ).fetchone()
        raise NoColumns("the records have no fields", row[0] if row else None)
    if _has_empty_key(columns):
        row = con.sql(
            f"SELECT min({LINE_COLUMN}) FROM {chunk} "
            f"WHERE regexp_matches({RAW_COLUMN}, '[{{,]\\s*\"\"\\s*:') AND json_valid({RAW_COLUMN})"
        ).fetchone()
        raise NoColumns('a key is the empty string ""', row[0] if row else None, empty_key=True)


def _has_empty_key(node: Any) -> bool:
    if isinstance(node, dict):
        return any(k == "" or _has_empty_key(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_has_empty_key(v) for v in node)
    return False


def _is_nested(typ: Any) -> bool:
    return not isinstance(typ, str) or typ.endswith("]") or typ.upper().startswith(("STRUCT", "MAP"))


def _is_struct(typ: Any) -> bool:
    return isinstance(typ, dict) or (isinstance(typ, str) and typ.upper().startswith("STRUCT("))


def _flat_struct(typ: Any) -> bool:
    """A STRUCT of scalars: every record's fields in it are checked (see ``_json_query``)."""
    if not (isinstance(typ, str) and typ.upper().startswith("STRUCT(")):
        return False
    inner = typ[len("STRUCT(") :].upper()
    return "STRUCT(" not in inner and "[]" not in inner and "MAP(" not in inner


def json_path(key: str) -> str:
    """The JSON path of a top-level key, as SQL text."""
    return "'" + ("$." + json.dumps(key)).replace("'", "''") + "'"


def _all_keys(con: duckdb.DuckDBPyConnection, chunk: str) -> list[str]:
    """Every top-level key anywhere in the chunk, in order of first appearance in a key set."""
    rows = con.sql(
        f"""SELECT DISTINCT CASE WHEN json_valid({RAW_COLUMN}) THEN json_keys({RAW_COLUMN}) END AS k
            FROM {chunk}"""
    ).fetchall()
    return list(dict.fromkeys(key for (k,) in rows if k for key in k))


def _exact(text: str, typ: str, value: str | None = None) -> str:
    """TRY_CAST of JSON text that never changes the value (``headwater.sources.exact``)."""
    return lossless(text, typ, value)


def _flat_fields(typ: Any) -> dict[str, str] | None:
    """The fields of a STRUCT of non-text scalars (or VARCHAR), read as text and checked like
    top-level values; None for other types (their leaves are checked by ``exact_nested``)."""
    if not _is_struct(typ):
        return None
    node = structure_of(typ)
    if not isinstance(node, dict) or not node:
        return None
    if not all(
        isinstance(t, str) and not _is_nested(t) and t.upper() not in ("JSON", "NULL") for t in node.values()
    ):
        return None
    return node


def _json_query(
    chunk: str,
    columns: dict[str, Any],
    sources: dict[str, list[str]] | None = None,
    passed: list[str] | None = None,
    *,
    strict: bool = False,
) -> str:
    """One query from raw lines to typed columns; unreadable lines are kept with ``__hw_reject``
    set, blank lines with it empty (JSON functions only ever see valid JSON; a filter here
    would be pushed down and make DuckDB compute the keys twice). Each value is
    extracted once (as text), cast once (in its own projection: DuckDB would compute a cast
    repeated inside CASE again), and checked against its text in the next projection; the
    fields of a flat STRUCT the same way. ``sources``: the keys each column is read from
    (default: its name; ``headwater.sources.keys``); a record with two keys of one column is
    rejected. ``passed``: more columns of the chunk (a source's system columns), passed through
    as they are. ``strict`` (the table's columns do not evolve): a record with an object
    holding a key its column's type lacks does not fit (its value would be lost)."""
    keys_of = {c: (sources or {}).get(c) or key_sources(c) for c in columns}
    through = "".join(f", {quote(c)}" for c in passed or [])
    flat = {c: f for c, t in columns.items() if len(keys_of[c]) == 1 and (f := _flat_fields(t)) is not None}
    # One key per column goes through json_transform; a column's other keys are read on their
    # own (a STRUCT with fields that differ only in case is not something DuckDB can plan with).
    structure: dict[str, Any] = {}
    for c, t in columns.items():
        if c in flat:
            structure[keys_of[c][0]] = dict.fromkeys(flat[c], "VARCHAR")
        else:
            structure[keys_of[c][0]] = t if _is_nested(t) else "VARCHAR"
    spec = json.dumps(structure).replace("'", "''")
    struct_keys = {c: f"__hw_s{i}" for i, (c, t) in enumerate(columns.items()) if _is_struct(t)}
    texts_sql, casts, typed, outputs, bad, reasons, clashes = [], [], [], [], [], [], []
    extra: list[str] = []
    for i, (key, typ) in enumerate(columns.items()):
        texts = [f"struct_extract_at(__hw_r, {i + 1})"]
        for other in keys_of[key][1:]:
            read = (
                f"json_transform({RAW_COLUMN} -> {json_path(other)}, {_literal(json.dumps(typ))})"
                if _is_nested(typ)
                else f"{RAW_COLUMN} ->> {json_path(other)}"
            )
            extra.append(f", CASE WHEN len(__hw_k) > 0 THEN {read} END AS __hw_v{len(extra)}")
            texts.append(f"__hw_v{len(extra) - 1}")
        text = texts[0] if len(texts) == 1 else f"coalesce({', '.join(texts)})"
        if len(texts) > 1:
            listed = ", ".join(_literal(k) for k in keys_of[key])
            clashes.append(
                f"WHEN len(list_intersect(__hw_k, [{listed}])) > 1 THEN {_literal(clash_reason(keys_of[key], key))}"
            )
        nested_reason = f"column {key}: a nested value does not fit {sql_type(typ)}".replace("'", "''")
        if key in flat:
            c = f"__hw_c{i}"
            texts_sql.append(f"{text} AS {c}")
            fields, checks = [], []
            for j, (name, leaf) in enumerate(flat[key].items()):
                leaf_text = f"__hw_c{i}_{j}"
                texts_sql.append(f"struct_extract({c}, {_literal(name)}) AS {leaf_text}")
                if leaf.upper() == "VARCHAR":
                    fields.append(f"{quote(name)} := {leaf_text}")
                    continue
                casts.append(f"{try_cast(leaf_text, leaf)} AS __hw_y{i}_{j}")
                typed.append(f"{_exact(leaf_text, leaf, f'__hw_y{i}_{j}')} AS __hw_t{i}_{j}")
                fields.append(f"{quote(name)} := __hw_t{i}_{j}")
                checks.append(f"({leaf_text} IS NOT NULL AND __hw_t{i}_{j} IS NULL)")
            # Not an object (json_keys gives [] for any other value), or a key that is a
            # field's name in another case (it would be lost: the field reads NULL).
            keys = struct_keys[key]
            names = ", ".join(_literal(k.lower()) for k in flat[key])
            exact = ", ".join(_literal(k) for k in flat[key])
            checks.append(f"NOT __hw_o{i}")
            # (the usual record has the fields' own names, in order: the lambda runs for the others)
            checks.append(
                f"CASE WHEN {keys} = [{exact}] THEN false ELSE "
                f"coalesce(list_bool_or(list_transform({keys}, lambda __hw_q: "
                f"list_contains([{names}], lower(__hw_q)) AND NOT list_contains([{exact}], __hw_q))), false) END"
            )
            extra.append(  # (CASE: json_type only ever sees valid JSON)
                f", CASE WHEN __hw_k IS NOT NULL AND len({keys}) = 0 THEN json_type({RAW_COLUMN}, "
                f"{json_path(keys_of[key][0])}) IN ('NULL', 'OBJECT') ELSE true END AS __hw_o{i}"
            )
            fails = f"({' OR '.join(checks)})"
            bad.append(fails)
            reasons.append(f"CASE WHEN {fails} THEN '{nested_reason}' END")
            outputs.append(
                f"CASE WHEN {c} IS NOT NULL THEN struct_pack({', '.join(fields)}) END AS {quote(key)}"
            )
            continue
        if _is_nested(typ):
            # json_transform converts nested values unchecked: each leaf is checked here.
            node = structure_of(typ)
            checks = []
            for k in keys_of[key]:
                extra.append(
                    f", CASE WHEN len(__hw_k) > 0 THEN json_extract({RAW_COLUMN}, {json_path(k)}) END AS __hw_j{len(extra)}"
                )
                checks.append(exact_nested(f"__hw_j{len(extra) - 1}", node))
            if any(c != "true" for c in checks):
                typed.append(f"{' AND '.join(checks)} AS __hw_ok{i}")
                fails = f"(NOT __hw_ok{i})"
                bad.append(fails)
                reasons.append(f"CASE WHEN {fails} THEN '{nested_reason}' END")
        if _is_nested(typ) or typ == "VARCHAR":
            outputs.append(f"{text} AS {quote(key)}")
            continue
        c = f"__hw_c{i}"
        texts_sql.append(f"{text} AS {c}")
        casts.append(f"{try_cast(c, typ)} AS __hw_y{i}")
        typed.append(f"{_exact(c, typ, f'__hw_y{i}')} AS __hw_t{i}")
        outputs.append(f"__hw_t{i} AS {quote(key)}")
        fails = f"({c} IS NOT NULL AND __hw_t{i} IS NULL)"
        bad.append(fails)
        reason = f"column {key}: expected {typ}".replace("'", "''")
        reasons.append(f"CASE WHEN {fails} THEN '{reason}' END")
    if strict:
        for i, (key, typ) in enumerate(columns.items()):
            objects = _object_paths({key: typ}, {key: keys_of[key]}, shape_checked=False)
            if objects:
                extra.append(f", CASE WHEN len(__hw_k) > 0 THEN {_fits(objects)} END AS __hw_f{i}")
                fails = f"(NOT coalesce(__hw_f{i}, true))"
                bad.append(fails)
                lacks = f"column {key}: a nested value has a key that {sql_type(typ)} lacks".replace(
                    "'", "''"
                )
                reasons.append(f"CASE WHEN {fails} THEN '{lacks}' END")
    reject = "__hw_kind"
    if bad:
        reject = (
            f"CASE WHEN __hw_kind IS NOT NULL THEN __hw_kind WHEN {' OR '.join(bad)} "
            f"THEN concat_ws('; ', {', '.join(reasons)}) END"
        )
    transform = (
        f"CASE WHEN len(__hw_k) > 0 THEN json_transform({RAW_COLUMN}, '{spec}') END" if structure else "NULL"
    )
    # The shape: the record's keys, and those of the objects in its STRUCT columns, all from
    # one parse of the record (NULL: not valid JSON). (json_valid first, not try(json_keys):
    # try() evaluates a whole vector again row by row when one of its rows fails, and with one
    # malformed line in a thousand nearly every vector has one: 1.8 s instead of 0.8 s for a
    # million lines.)
    paths = ", ".join(["'$'", *(json_path(keys_of[k][0]) for k in struct_keys)])
    nested_keys = "".join(f", __hw_ks[{j + 2}] AS {s}" for j, s in enumerate(struct_keys.values()))
    shape = ", ".join(["__hw_k", *struct_keys.values()])
    # The usual record has the planned keys in the planned order: its shape is a constant.
    planned = [[keys_of[c][0] for c in columns], *([*structure_of(columns[c])] for c in struct_keys)]
    if all(isinstance(structure_of(columns[c]), dict) for c in struct_keys):
        same = " AND ".join(
            f"{v} = {_list(ks)}" for v, ks in zip(["__hw_k", *struct_keys.values()], planned, strict=True)
        )
        constant = ", ".join(_list(ks) for ks in planned)
        shape_sql = f"CASE WHEN {same} THEN hash({constant}) WHEN __hw_k IS NOT NULL THEN hash({shape}) END"
    else:
        shape_sql = f"CASE WHEN __hw_k IS NOT NULL THEN hash({shape}) END"
    return f"""(SELECT {LINE_COLUMN}, {SHAPE}, {reject} AS {REJECT}{"".join(", " + c for c in outputs)}{through} FROM (
     SELECT *{"".join(", " + c for c in typed)} FROM (
      SELECT *{"".join(", " + c for c in casts)} FROM (
       SELECT *{"".join(", " + c for c in texts_sql)} FROM (
        SELECT {LINE_COLUMN}{through}, {shape_sql} AS {SHAPE}, {transform} AS __hw_r{"".join(", " + s for s in struct_keys.values())}{"".join(extra)},
            CASE WHEN __hw_k IS NOT NULL THEN
                    CASE WHEN len(__hw_k) = 0 AND json_type({RAW_COLUMN}) <> 'OBJECT' THEN 'not a JSON object'
                         {" ".join(clashes)} END
                 WHEN trim({RAW_COLUMN}, ' \t\r\n') = '' THEN '{BLANK}'
                 ELSE 'malformed JSON' END AS __hw_kind
        FROM (SELECT {LINE_COLUMN}, {RAW_COLUMN}{through}, __hw_ks[1] AS __hw_k{nested_keys} FROM (SELECT {LINE_COLUMN}, {RAW_COLUMN}{through},
                CASE WHEN json_valid({RAW_COLUMN}) THEN json_keys({RAW_COLUMN}, [{paths}]) END AS __hw_ks FROM {chunk})))))))"""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(texts: list[str]) -> str:
    """A VARCHAR[] literal (typed: ``[]`` alone would be an INTEGER[])."""
    return f"[{', '.join(_literal(t) for t in texts)}]::VARCHAR[]"


def _materialise(
    con: duckdb.DuckDBPyConnection,
    query: str,
    raw: pa.Table,
    bad_utf8: pa.Table,
    widen: dict[str, str],
    chunk: str,
) -> Decoded:
    """The query as a temp table of readable records; the others come back in ``rejected``."""
    name = f"hw_typed_{next(_chunks)}"
    try:
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {query}")
        con.execute(f"DELETE FROM {name} WHERE {REJECT} = '{BLANK}'")
        bad = con.sql(
            f"SELECT {LINE_COLUMN}, {REJECT} FROM {name} WHERE {REJECT} IS NOT NULL ORDER BY {LINE_COLUMN}"
        ).to_arrow_table()
        lines = con.sql(f"SELECT count(*) FROM {name}").fetchone()
        total = raw.num_rows
    finally:
        con.unregister(chunk)
    rejected = [bad_utf8]
    if bad.num_rows:
        rejected.append(_rejected_lines(raw, bad[LINE_COLUMN], bad[REJECT]))
        con.execute(f"DELETE FROM {name} WHERE {REJECT} IS NOT NULL")
    kept = int(lines[0]) if lines else 0
    blank = total - kept
    rel = con.sql(f"SELECT * EXCLUDE ({SHAPE}, {REJECT}) FROM {name} LIMIT 0")
    typed = {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True) if c != LINE_COLUMN}
    con.execute(f"ALTER TABLE {name} DROP COLUMN {SHAPE}")
    con.execute(f"ALTER TABLE {name} DROP COLUMN {REJECT}")
    return Decoded(name, typed, kept - bad.num_rows, concat_rejected(rejected), blank, widen)


def _decode_csv(
    con: duckdb.DuckDBPyConnection,
    chunk: FileChunk,
    table_types: dict[str, str],
    evolve: bool,
    exact_in_double: Callable[[str], bool] | None,
) -> Decoded:
    # A header name is stored in the table's column of the same name ignoring case.
    existing = {c.lower(): c for c in table_types}
    text = chunk.table.rename_columns([existing.get(c.lower(), c) for c in chunk.table.column_names])
    names = [c for c in text.column_names if c not in (LINE_COLUMN, RAW_COLUMN)]
    con.register("hw_chunk", text)
    try:
        inferred = infer_text_types(con, "hw_chunk", [n for n in names if n not in table_types])
        inferred.update({n: table_types[n] for n in names if n in table_types})
        columns, widen = plan_columns({n: inferred[n] for n in names}, table_types, evolve, exact_in_double)
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


def _objects(chunk: str) -> str:
    """The chunk's lines that are JSON objects."""
    return (
        f"(FROM {chunk} WHERE CASE WHEN json_valid({RAW_COLUMN}) THEN json_type({RAW_COLUMN}) = 'OBJECT' END)"
    )


def _infer(
    con: duckdb.DuckDBPyConnection,
    chunk: str,
    raw: pa.Table,
    keys: list[str],
    known: set[str],
    lines: list[int],
) -> dict[str, Any]:
    """The chunk's structure: a sample (plus ``lines``), and every top-level key anywhere in it."""
    objects = _objects(chunk)
    # The first lines and every k-th line after them (and ``lines``), taken out of the chunk
    # first so that only they are parsed.
    numbers = np.concatenate([c.to_numpy() for c in raw[LINE_COLUMN].chunks] or [np.empty(0, np.int64)])
    size = KNOWN_SAMPLE_ROWS if known else SAMPLE_ROWS
    step = max(1, len(numbers) // size)
    keep = (np.arange(len(numbers)) < size) | (numbers % step == 0) | np.isin(numbers, lines)
    sample = raw.filter(pa.array(keep))
    con.register("hw_sample", sample)
    try:
        row = con.sql(
            f"SELECT json_group_structure(json({RAW_COLUMN})) FROM {_objects('hw_sample')}"
        ).fetchone()
        inferred: dict[str, Any] = json.loads(row[0]) if row and row[0] else {}
        if not isinstance(inferred, dict):  # only empty objects ({}) in the sample
            inferred = {}
        unseen = [k for k in keys if k not in inferred]
        if unseen:  # keys missing from the sample: infer them from the rows that carry them
            extra_rows = con.execute(
                f"""SELECT {LINE_COLUMN}, {RAW_COLUMN} FROM
                    (FROM {objects} WHERE list_has_any(json_keys({RAW_COLUMN}), ?) LIMIT {SAMPLE_ROWS})""",
                [unseen],
            ).to_arrow_table()
            con.register("hw_extra", extra_rows)
            try:
                more = con.sql(f"SELECT json_group_structure(json({RAW_COLUMN})) FROM hw_extra").fetchone()
            finally:
                con.unregister("hw_extra")
            extra = json.loads(more[0]) if more and more[0] else {}
            inferred.update({k: extra.get(k, "NULL") for k in unseen})
            sample = pa.concat_tables(
                [sample.select([LINE_COLUMN, RAW_COLUMN]), extra_rows.cast(sample.schema)]
            )
            con.register("hw_sample", sample)
        # (Top-level numbers too wide for BIGINT are looked at in ``_detect_types``.)
        structure = {
            k: v if isinstance(v, str) and v in _WIDE else _normalise(v) for k, v in inferred.items()
        }
        if _has_empty_key(structure):  # no column can be named "": say which record has it
            _check_names(con, chunk, structure)
        _detect_types(con, _objects("hw_sample"), structure, known)
    finally:
        con.unregister("hw_sample")
    return structure


def _normalise(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _normalise(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_normalise(node[0])] if node else ["VARCHAR"]
    if node in INTEGERS:
        return "BIGINT"
    if node in ("NULL", "JSON"):
        return "VARCHAR"
    return node


def _detect_types(
    con: duckdb.DuckDBPyConnection, objects: str, structure: dict[str, Any], known: set[str]
) -> None:
    """New top-level keys: strings whose sampled values are all canonical ISO dates or
    timestamps (all with a zone, or all without) get that type; numbers that are all integers
    are BIGINT, or HUGEINT when some do not fit a BIGINT (DuckDB's JSON reader calls those
    UBIGINT or DOUBLE)."""
    # Columns the table already has keep their type: only new strings are looked at.
    texts = [k for k, v in structure.items() if v == "VARCHAR" and k not in known]
    numbers = [k for k, v in structure.items() if isinstance(v, str) and v in _WIDE]  # (widening too)
    if not texts and not numbers:
        return
    # First over a few records: a key one of them rules out (a word is no date, 1.5 no
    # integer) is settled there, and only the others are looked at in the whole sample.
    probe_texts, probe_numbers = _type_counts(con, f"(FROM {objects} LIMIT {_PROBE_ROWS})", texts, numbers)
    texts = [k for k in texts if not probe_texts[k][0] or probe_texts[k][0] in probe_texts[k][1:]]
    settled = {k for k in numbers if probe_numbers[k][0] and probe_numbers[k][1] < probe_numbers[k][0]}
    for key in settled:
        structure[key] = "DOUBLE"
    numbers = [k for k in numbers if k not in settled]
    counts_texts, counts_numbers = _type_counts(con, objects, texts, numbers)
    for key, (n, d, t, z) in counts_texts.items():
        if not n:
            continue
        for typ, count in (("DATE", d), ("TIMESTAMP", t), ("TIMESTAMPTZ", z)):
            if count == n:
                structure[key] = typ
    for key, (n, integers, bigints) in counts_numbers.items():
        structure[key] = "DOUBLE" if not n or integers < n else "BIGINT" if bigints == n else "HUGEINT"


_PROBE_ROWS = 200


def _type_counts(
    con: duckdb.DuckDBPyConnection, objects: str, texts: list[str], numbers: list[str]
) -> tuple[dict[str, tuple[int, int, int, int]], dict[str, tuple[int, int, int]]]:
    """Per text key: its values, and how many are canonical DATE, TIMESTAMP, TIMESTAMPTZ texts;
    per number key: its values, how many are integers, and how many of those fit a BIGINT."""
    if not texts and not numbers:
        return {}, {}
    checks = []
    for i, key in enumerate(texts):
        v = f"({RAW_COLUMN} ->> {json_path(key)})"
        checks.append(
            f"count({v}) AS n{i}, count(*) FILTER (WHERE {canonical(v, 'DATE')}) AS d{i}, "
            f"count(*) FILTER (WHERE {canonical(v, 'TIMESTAMP')}) AS t{i}, "
            f"count(*) FILTER (WHERE {canonical(v, 'TIMESTAMPTZ')}) AS z{i}"
        )
    for i, key in enumerate(numbers):
        v = f"({RAW_COLUMN} ->> {json_path(key)})"
        integer = f"regexp_full_match({v}, '-?[0-9]+')"
        checks.append(
            f"count({v}) AS m{i}, count(*) FILTER (WHERE {integer}) AS i{i}, "
            f"count(*) FILTER (WHERE {integer} AND TRY_CAST({v} AS BIGINT) IS NOT NULL) AS b{i}"
        )
    row = con.sql(f"SELECT {', '.join(checks)} FROM {objects}").fetchone()
    assert row is not None
    at = 4 * len(texts)
    by_text = {key: tuple(int(x) for x in row[4 * i : 4 * i + 4]) for i, key in enumerate(texts)}
    by_number = {
        key: tuple(int(x) for x in row[at + 3 * i : at + 3 * i + 3]) for i, key in enumerate(numbers)
    }
    return by_text, by_number  # type: ignore[return-value]
