"""SQL typed at ``headwater query``: what it may do, and running it.

``query`` reads unless writes are asked for (``--allow-writes``, ``allow_writes=True``).
Every statement of a query is checked before any runs, so a refused statement changes
nothing. A reading statement also runs inside a transaction that is rolled back: whatever
a table function might change is undone. Writes never reach the system or internal
schemas, and a table still used by the project cannot be dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import duckdb

from headwater.dialect import parse
from headwater.dialect.nodes import Query
from headwater.dialect.readonly import explained, is_read_only, rescopes, written_tables
from headwater.errors import UserError
from headwater.lake import INTERNAL_SCHEMA, SYSTEM_SCHEMA, Lake, QueryError
from headwater.lake.engine import clean_error
from headwater.lake.rows import Row, relation_rows
from headwater.runner.windows import qualify_system_tables

if TYPE_CHECKING:
    import pyarrow as pa

T = TypeVar("T")
PROTECTED_SCHEMAS = frozenset({SYSTEM_SCHEMA, INTERNAL_SCHEMA})
ALLOW_WRITES = "--allow-writes"


def needs_writes(stmt: Query) -> bool:
    """True when the statement may change data. EXPLAIN is judged by what it explains."""
    inner = explained(stmt.expression)
    if inner is not None:
        parts = parse(inner) if inner.strip() else []
        return not parts or any(not isinstance(p, Query) or needs_writes(p) for p in parts)
    return not is_read_only(stmt.expression)


def check_query(stmt: Query, *, allow_writes: bool) -> bool:
    """Raise a UserError for a statement ``query`` must not run; else whether it writes."""
    first = stmt.text.split()[:2]
    words = " ".join(first if first[0].upper() == "EXPLAIN" else first[:1]).upper()
    if rescopes(stmt.expression):
        raise UserError(
            f"{stmt.pos}: {words} is not run by `headwater query`: it would change what table names mean",
            hint="name tables in full instead (schema.table)",
        )
    if not needs_writes(stmt):
        return False
    if not allow_writes:
        raise UserError(
            f"{stmt.pos}: `headwater query` is read-only, and {words} may change data",
            hint=f"to change data on purpose, run it again with `headwater query {ALLOW_WRITES}` "
            "(Python: Project.query(sql, allow_writes=True))",
        )
    for table in written_tables(stmt.expression):
        parts = {p.lower() for p in (table.catalog, table.db) if p}
        if parts & PROTECTED_SCHEMAS:
            raise UserError(
                f"{stmt.pos}: {words} would write {table.sql()}: system and {INTERNAL_SCHEMA} tables "
                "take no user writes",
                hint="they are Headwater's own records; query them, or change the pipeline instead",
            )
    return True


def run_query(lake: Lake, stmt: Query, *, writes: bool) -> pa.Table:
    """Run one checked statement. A reading one runs in a transaction that is rolled back."""
    import pyarrow as pa

    def answer(rel: duckdb.DuckDBPyRelation | None) -> pa.Table:
        return pa.table({"status": ["ok"]}) if rel is None else rel.to_arrow_table()

    return _run(lake, stmt, writes, answer)


def run_query_rows(lake: Lake, stmt: Query, *, writes: bool) -> tuple[list[str], list[Row]]:
    """``run_query``'s answer as column names and rows (``headwater query``): the same
    values, without pyarrow for the common column types (``headwater.lake.rows``)."""

    def answer(rel: duckdb.DuckDBPyRelation | None) -> tuple[list[str], list[Row]]:
        return (["status"], [("ok",)]) if rel is None else relation_rows(rel, lambda: time_zone(lake))

    return _run(lake, stmt, writes, answer)


def time_zone(lake: Lake) -> str:
    row = lake.fetchone("SELECT current_setting('TimeZone')")
    return str(row[0]) if row else "UTC"


def _run(lake: Lake, stmt: Query, writes: bool, answer: Callable[[duckdb.DuckDBPyRelation | None], T]) -> T:
    from headwater.dialect import to_duckdb

    inner = explained(stmt.expression)
    if inner is not None:  # EXPLAIN [ANALYZE] <query>, with the query in DuckDB's spelling
        explains = parse(inner)[0]
        assert isinstance(explains, Query)  # checked by needs_writes
        words = stmt.text.split()
        head = "EXPLAIN ANALYZE" if words[1].upper() == "ANALYZE" else "EXPLAIN"
        text = f"{head} {to_duckdb(qualify_system_tables(explains.expression))}"
    else:
        text = to_duckdb(qualify_system_tables(stmt.expression))
    if not writes:
        lake.execute("BEGIN TRANSACTION")
    try:
        return answer(lake.con.sql(text))
    except duckdb.Error as e:
        raise QueryError(clean_error(str(e))) from None
    finally:
        if not writes:
            with contextlib.suppress(duckdb.Error):
                lake.execute("ROLLBACK")
