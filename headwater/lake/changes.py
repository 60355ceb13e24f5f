"""DuckLake's change feed and table identities, for what refreshes from changes (views)."""

from __future__ import annotations

from headwater.dialect.nodes import TableName
from headwater.lake.engine import LAKE, Lake, quote
from headwater.lake.maintenance import META


def table_ids(lake: Lake) -> dict[str, int]:
    """``schema.table`` -> DuckLake table id of every table now (a re-created table gets a new id)."""
    rows = lake.fetchall(
        f"SELECT s.schema_name || '.' || t.table_name, t.table_id FROM {META}.ducklake_table t "
        f"JOIN {META}.ducklake_schema s ON s.schema_id = t.schema_id AND s.end_snapshot IS NULL "
        "WHERE t.end_snapshot IS NULL"
    )
    return {str(r[0]): int(r[1]) for r in rows}


def table_columns(lake: Lake) -> dict[str, dict[str, str]]:
    """``schema.table`` -> its columns and their types, of every table now, in one query."""
    out: dict[str, dict[str, str]] = {}
    for table, column, typ in lake.fetchall(
        "SELECT schema_name || '.' || table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? ORDER BY schema_name, table_name, column_index",
        [LAKE],
    ):
        out.setdefault(str(table), {})[str(column)] = str(typ)
    return out


def signature(columns: dict[str, str]) -> str:
    """Columns and types in one text: a table whose text changed changed its columns."""
    return ", ".join(f"{quote(n)} {t}" for n, t in columns.items())


# Kinds of change in a snapshot's ``changes`` that only add rows to the tables they name.
INSERTS = frozenset({"tables_inserted_into", "inlined_insert"})


def changed_tables(lake: Lake, since: int, until: int) -> dict[int, set[str]] | None:
    """Ids of the tables that the snapshots after ``since`` up to ``until`` changed, each with
    the kinds of change (``INSERTS`` and others); None when some of those snapshots (or
    ``since`` itself) were expired: the list is then incomplete, and only the change feed can tell."""
    rows = lake.fetchall(
        f"SELECT snapshot_id, changes FROM {LAKE}.snapshots() WHERE snapshot_id BETWEEN ? AND ?",
        [since, until],
    )
    if len(rows) != until - since + 1:
        return None
    changed: dict[int, set[str]] = {}
    for snapshot, changes in rows:
        if snapshot == since:
            continue
        for key, values in (changes or {}).items():
            if key not in ("tables_created", "schemas_created"):
                for v in values or []:
                    if str(v).isdigit():
                        changed.setdefault(int(v), set()).add(key)
    return changed


def changes_sql(
    table: TableName, after: int, until: int, sign: str = "__hw_sign", *, inserts_only: bool = False
) -> str:
    """The rows of ``table`` inserted (``sign`` 1) and deleted (-1) by the snapshots after
    ``after`` up to ``until``; an update is its old row deleted and its new row inserted.
    ``inserts_only``: those snapshots only inserted rows (``changed_tables``), so the deletions
    are not read. (DuckLake's insertions and deletions, rather than its ``table_changes``, which
    joins the two to tell updates apart: three times the cost, for a label not needed here.)"""
    args = f"'{LAKE}', '{_str(table.schema)}', '{_str(table.name)}', {int(after) + 1}, {int(until)}"
    inserted = f"SELECT *, 1 AS {sign} FROM ducklake_table_insertions({args})"
    if inserts_only:
        return inserted
    return f"{inserted} UNION ALL SELECT *, -1 AS {sign} FROM ducklake_table_deletions({args})"


def _str(value: str) -> str:
    return value.replace("'", "''")
