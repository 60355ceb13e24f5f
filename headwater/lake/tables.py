"""Lake tables: creation with system columns, evolution as data arrives, appends by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import duckdb

from headwater.dialect.nodes import CreateTable, TableName
from headwater.lake.engine import LAKE, Lake, qualified, quote
from headwater.lake.errors import LakeError

SYSTEM_COLUMN_TYPES = {
    "$event_time": "TIMESTAMPTZ",
    "$commit_time": "TIMESTAMPTZ",
    "$source": "VARCHAR",
    "$run_id": "BIGINT",
}


def ensure_schema(lake: Lake, schema: str) -> None:
    lake.execute(f"CREATE SCHEMA IF NOT EXISTS {LAKE}.{quote(schema)}")


def create_declared(lake: Lake, stmt: CreateTable) -> None:
    """Create a table declared with CREATE TABLE, or add declared columns that an existing
    table lacks. A table declared without columns exists from deploy on with its system
    columns only (queries and jobs over it work before data arrives); its first rows add
    their columns, after the system columns."""
    ensure_schema(lake, stmt.table.schema)
    name = qualified(stmt.table.schema, stmt.table.name)
    if not lake.table_exists(stmt.table.schema, stmt.table.name):
        columns = [f"{quote(c.name)} {c.type}" for c in stmt.columns]
        columns += [f"{quote(n)} {t}" for n, t in SYSTEM_COLUMN_TYPES.items()]
        lake.execute(f"CREATE TABLE {name} ({', '.join(columns)})")
        if stmt.partitioned_by:
            cols = ", ".join(quote(c) for c in stmt.partitioned_by)
            lake.execute(f"ALTER TABLE {name} SET PARTITIONED BY ({cols})")
    else:
        have = lake.columns(stmt.table.schema, stmt.table.name)
        for col in stmt.columns:
            if col.name not in have:
                lake.execute(f"ALTER TABLE {name} ADD COLUMN {quote(col.name)} {col.type}")
    if stmt.comment:
        lake.execute(f"COMMENT ON TABLE {name} IS '{stmt.comment.replace(chr(39), chr(39) * 2)}'")


def ensure_table(lake: Lake, table: TableName, columns: dict[str, str]) -> dict[str, str]:
    """Make ``table`` exist with at least ``columns`` (name -> DuckDB type), adding what is
    missing. Returns the table's columns after the change."""
    ensure_schema(lake, table.schema)
    name = qualified(table.schema, table.name)
    if not lake.table_exists(table.schema, table.name):
        defs = {**columns, **SYSTEM_COLUMN_TYPES}
        lake.execute(f"CREATE TABLE {name} ({', '.join(f'{quote(c)} {t}' for c, t in defs.items())})")
        return lake.columns(table.schema, table.name)
    have = lake.columns(table.schema, table.name)
    lowered = {c.lower(): c for c in have}
    for col, typ in columns.items():
        existing = lowered.get(col.lower())
        if existing is None:
            lake.execute(f"ALTER TABLE {name} ADD COLUMN {quote(col)} {typ}")
            have[col] = typ
        elif have[existing] != typ and _nested(typ) and _nested(have[existing]):
            for path, field_type in new_struct_fields(have[existing], typ, [existing]):
                lake.execute(f"ALTER TABLE {name} ADD COLUMN {'.'.join(quote(p) for p in path)} {field_type}")
    return lake.columns(table.schema, table.name)


def widen_columns(lake: Lake, table: TableName, widen: dict[str, str]) -> None:
    """Give the columns in ``widen`` (name -> type) that type, where the table has another."""
    if not widen:
        return
    have = lake.columns(table.schema, table.name)
    name = qualified(table.schema, table.name)
    for col, typ in widen.items():
        if col in have and have[col] != typ:
            lake.execute(f"ALTER TABLE {name} ALTER COLUMN {quote(col)} SET DATA TYPE {typ}")


def _nested(typ: str) -> bool:
    return typ.upper().startswith("STRUCT") or typ.endswith("]")


def new_struct_fields(have: str, want: str, path: list[str]) -> list[tuple[list[str], str]]:
    """Fields of nested type ``want`` that nested type ``have`` lacks, as (path, type): in
    structs, and in the elements of lists (``element`` in the path), at any depth."""
    have_t, want_t = duckdb.sql(f"SELECT NULL::{have}").types[0], duckdb.sql(f"SELECT NULL::{want}").types[0]
    return _new_fields(have_t, want_t, path)


def _new_fields(have_t: Any, want_t: Any, path: list[str]) -> list[tuple[list[str], str]]:
    if have_t.id == "list" and want_t.id == "list":
        return _new_fields(have_t.children[0][1], want_t.children[0][1], [*path, "element"])
    if have_t.id != "struct" or want_t.id != "struct":
        return []
    known: dict[str, Any] = {str(n).lower(): child for n, child in have_t.children}
    out: list[tuple[list[str], str]] = []
    for name, child_any in want_t.children:
        child: Any = child_any
        mine = known.get(str(name).lower())
        if mine is None:
            out.append(([*path, str(name)], str(child)))
        elif str(child) != str(mine):
            out.extend(_new_fields(mine, child, [*path, str(name)]))
    return out


def user_columns(columns: dict[str, str]) -> dict[str, str]:
    return {c: t for c, t in columns.items() if not c.startswith("$")}


def without_columns(lake: Lake, tables: Iterable[TableName]) -> list[TableName]:
    """Those of ``tables`` that do not exist yet, or have no columns of their own yet (declared
    without columns, no data yet): a query naming their columns waits for their first rows."""
    return [
        t
        for t in tables
        if t.schema != "system"
        and (not lake.table_exists(t.schema, t.name) or not user_columns(lake.columns(t.schema, t.name)))
    ]


def describe(rel: duckdb.DuckDBPyRelation, skip: Iterable[str] = ()) -> dict[str, str]:
    skipped = set(skip)
    return {c: str(t) for c, t in zip(rel.columns, rel.types, strict=True) if c not in skipped}


def append(lake: Lake, table: TableName, select_sql: str) -> int:
    """INSERT the rows of ``select_sql`` by column name; returns the rows inserted."""
    try:
        row = lake.fetchone(f"INSERT INTO {qualified(table.schema, table.name)} BY NAME {select_sql}")
    except duckdb.Error as e:
        raise LakeError(f"cannot write into {table}: {str(e).strip()}") from None
    return int(row[0]) if row else 0


def lake_columns(lake: Lake) -> Callable[[TableName], list[str] | None]:
    """A lookup of a table's user columns in the lake (None: the table does not exist)."""

    def columns_of(table: TableName) -> list[str] | None:
        if not lake.table_exists(table.schema, table.name):
            return None
        return list(user_columns(lake.columns(table.schema, table.name)))

    return columns_of
