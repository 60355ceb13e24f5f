"""Refreshing an incremental materialized view from its fact table's changes.

At each refresh the view remembers, per input table, the DuckLake snapshot it read, the
table's id and its columns (``headwater.view_inputs``), in the same transaction as its rows
and its state tables. The next refresh reads the fact table's change feed from there on and
folds it into the state, then rewrites the view's rows of the groups that changed. It
recomputes everything instead (and says why) when it cannot be sure of the answer: the
first time, after an edit of the query, when a dimension table changed, an input was
re-created or changed columns, the snapshot it remembers has expired, or rows of the fact
table were updated or deleted while the view has an aggregate that cannot take a row back
(``min``, ``max``, ``count(DISTINCT)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from headwater.catalog.model import Entry
from headwater.dialect import to_duckdb
from headwater.dialect.nodes import CreateMaterializedView, TableName
from headwater.lake import INTERNAL_SCHEMA, LAKE, Lake, qualified, quote
from headwater.lake.changes import (
    INSERTS,
    changed_tables,
    changes_sql,
    signature,
    table_ids,
)
from headwater.plan.incremental import Shape
from headwater.runner.view_sql import DELETED, ROW_COUNT, SIGN, ViewSQL

VIEW_INPUTS = f"{LAKE}.{INTERNAL_SCHEMA}.view_inputs"
ROW_GROUP_ROWS = 122_880  # rows of a Parquet row group as DuckDB writes them
_EXACT_NUMBERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT", "DECIMAL")  # fmt: skip


@dataclass
class Refresh:
    """What one refresh did: ``how`` is "incremental" or "full recompute: <why>"."""

    how: str
    rows: int  # rows the refresh (re)wrote in the view


def state_table(view: str, part: str = "") -> str:
    return f"view_state__{view.replace('.', '__')}{'__' + part if part else ''}"


def drop_state(lake: Lake, view: str) -> None:
    """Forget an incremental view's state tables and snapshots (the view went or changed)."""
    prefix = state_table(view)
    tables = lake.tables()
    for schema, name in tables:
        if schema == INTERNAL_SCHEMA and re.fullmatch(re.escape(prefix) + r"(__d[0-9]+)?", name):
            lake.execute(f"DROP TABLE {qualified(schema, name)}")
    if (INTERNAL_SCHEMA, "view_inputs") in tables:
        lake.execute(f"DELETE FROM {VIEW_INPUTS} WHERE view_name = ?", [view])


def prepare(lake: Lake, entry: Entry, shape: Shape) -> ViewSQL | str:
    """The view's refresh SQL, or why it must be recomputed in full after all (what only the
    lake can say: its output names and the types of its aggregates' arguments)."""
    stmt: CreateMaterializedView = entry.statement  # type: ignore[assignment]
    names = list(lake.con.sql(f"SELECT * FROM ({to_duckdb(stmt.query)}) LIMIT 0").columns)
    if len({n.lower() for n in names}) < len(names):
        return "two columns of the select list have the same name"
    if any(n.startswith(("$", "__hw_")) for n in names):
        return "a column of the select list is a system column"
    sql = ViewSQL(shape, names)
    rel = lake.con.sql(f"SELECT * FROM ({sql.rows()}) LIMIT 0")
    types = dict(zip(rel.columns, (str(t).upper() for t in rel.types), strict=True))
    for j, agg in enumerate(shape.aggregates):
        typ = types[f"__hw_x{j}"] if agg.arg is not None else ""
        if agg.kind in ("sum", "avg") and not typ.startswith(_EXACT_NUMBERS):
            return f"{agg.kind}() of {typ} values (only integers and DECIMAL add up the same in any order)"
        scale = re.fullmatch(r"DECIMAL\(\d+,\s*(\d+)\)", typ)
        if scale:
            sql.scales[j] = int(scale.group(1))
    return sql


@dataclass
class Decision:
    how: str  # "incremental", or "full recompute: <why>"
    snapshot: int  # the snapshot this refresh reads
    since: int = 0  # incremental: the snapshot the last refresh read
    known: tuple[str, int] | None = None  # the view's row in headwater.views: fingerprint, version
    same_inputs: bool = False  # the inputs remembered are the same tables, with the same columns
    inserts_only: bool = False  # the fact table's changes are only insertions


def plan_refresh(
    lake: Lake,
    entry: Entry,
    shape: Shape,
    columns: dict[str, dict[str, str]],
    snapshot: int,
    known: tuple[str, int] | None,
    remembered_rows: list[tuple[str, int, int, str]],
    read_snapshot: int | None,
) -> Decision | None:
    """Decide, inside the refresh's transaction, how to refresh: None when no input changed.
    ``columns``: the lake's tables and their columns (``changes.table_columns``); ``snapshot``:
    the one the transaction reads; ``known``: the view's row in ``headwater.views``
    (fingerprint, version); ``remembered_rows``: its rows in ``view_inputs`` (table, id,
    snapshot, columns); ``read_snapshot``: the snapshot its last refresh read (its newest
    clock row's; None when unknown: then it recomputes)."""
    view = str(entry.writes)
    remembered = {str(r[0]): (int(r[1]), int(r[2]), str(r[3])) for r in remembered_rows}
    if not remembered or read_snapshot is None or f"{INTERNAL_SCHEMA}.{state_table(view)}" not in columns:
        return Decision("full recompute: first computation", snapshot, known=known)
    if known is None or known[0] != entry.fingerprint:
        return Decision("full recompute: the query changed", snapshot, known=known)
    if view not in columns:
        return Decision("full recompute: the view's table is missing", snapshot, known=known)
    inputs = [str(t) for t in (shape.fact, *shape.dimensions)]
    if any(t not in remembered for t in inputs):
        return Decision("full recompute: the query changed", snapshot, known=known)
    since = read_snapshot
    if since >= snapshot:
        return None
    ids = table_ids(lake)
    for table in inputs:
        if ids.get(table) != remembered[table][0]:
            return Decision(f"full recompute: {table} was re-created", snapshot, known=known)
        if signature(columns.get(table, {})) != remembered[table][2]:
            return Decision(f"full recompute: the columns of {table} changed", snapshot, known=known)
    kinds = changed_tables(lake, since, snapshot)
    if kinds is None:
        return Decision(
            "full recompute: snapshots since its last refresh were expired",
            snapshot,
            known=known,
            same_inputs=True,
        )
    changed = set(kinds)
    for dim in shape.dimensions:
        if ids[str(dim)] in changed:
            return Decision(
                f"full recompute: the dimension table {dim} changed", snapshot, known=known, same_inputs=True
            )
    if ids[str(shape.fact)] not in changed:
        return None
    inserts_only = kinds[ids[str(shape.fact)]] <= INSERTS
    return Decision(
        "incremental",
        snapshot,
        since,
        known,
        same_inputs=True,
        inserts_only=inserts_only,
    )


def recompute(lake: Lake, sql: ViewSQL, view: TableName, system_columns: str) -> int:
    """Build the state and set tables from all rows, and the view's table from the state."""
    name = str(view)
    drop_state(lake, name)
    rows = sql.rows()
    state = qualified(INTERNAL_SCHEMA, state_table(name))
    pairs: dict[int, str] = {}
    for j, agg in enumerate(sql.shape.aggregates):
        if agg.kind == "count_distinct":
            pairs[j] = qualified(INTERNAL_SCHEMA, state_table(name, f"d{j}"))
            lake.execute(f"CREATE TABLE {pairs[j]} AS {sql.pairs(j, rows)} ORDER BY ALL")
    lake.execute(f"CREATE TABLE {state} AS {sql.state_of_rows(rows, pairs)}")
    target = qualified(view.schema, view.name)
    lake.execute(f"DROP TABLE IF EXISTS {target}")
    count = lake.fetchone(f"CREATE TABLE {target} AS {sql.finished(state, system_columns)}")
    return int(count[0]) if count else 0


def apply_changes(
    lake: Lake, sql: ViewSQL, view: TableName, decided: Decision, system_columns: str
) -> int | str:
    """Fold the fact table's changes since ``decided.since`` into the state and the view's
    changed groups. Returns the view rows written, or why a full recompute is needed after all."""
    name = str(view)
    changes = changes_sql(sql.shape.fact, decided.since, decided.snapshot, inserts_only=decided.inserts_only)
    # (the changed rows are not kept in a table of their own: writing 100,000 of them costs more
    # than reading the change feed again for the pairs of count(DISTINCT))
    rows = sql.rows(changes)
    lake.execute(f"CREATE OR REPLACE TEMP TABLE __hw_delta AS {sql.delta_of_rows(rows, deleted=True)}")
    new_pairs: dict[int, str] = {}
    try:
        distinct = [j for j, agg in enumerate(sql.shape.aggregates) if agg.kind == "count_distinct"]
        keys = [quote(k) for k in sql.keys] if distinct else []
        ranges = "".join(f", min({k}), max({k}), count(*) FILTER (WHERE {k} IS NULL)" for k in keys)
        found = lake.fetchone(f"SELECT coalesce(sum({DELETED}), 0){ranges} FROM __hw_delta") or (0,)
        if found[0] and not all(a.invertible for a in sql.shape.aggregates):
            return (
                f"full recompute: rows of {sql.shape.fact} were updated or deleted, and min(), max() "
                "and count(DISTINCT) cannot take a row back"
            )
        state = qualified(INTERNAL_SCHEMA, state_table(name))
        bounds: list[str] = []
        params: list[object] = []
        for i, k in enumerate(keys):  # (the changed groups' keys span the changed rows' keys)
            low, high, nulls = found[1 + 3 * i : 4 + 3 * i]
            if low is not None and not nulls:
                bounds.append(f"{k} BETWEEN ? AND ?")
                params += [low, high]
        for j in distinct:
            table = qualified(INTERNAL_SCHEMA, state_table(name, f"d{j}"))
            new_pairs[j] = _add_pairs(lake, sql, j, rows, table, bounds, params)
        lake.execute(
            f"CREATE OR REPLACE TEMP TABLE __hw_merged AS {sql.merged('__hw_delta', state, new_pairs)}"
        )
        lake.execute(f"DELETE FROM {state} USING __hw_merged m WHERE {sql.key_match(state, 'm')}")
        lake.execute(f"INSERT INTO {state} BY NAME SELECT * FROM __hw_merged WHERE {ROW_COUNT} > 0")
        target = qualified(view.schema, view.name)
        lake.execute(f"DELETE FROM {target} USING __hw_merged m WHERE {sql.key_match(target, 'm')}")
        written = lake.fetchone(f"INSERT INTO {target} BY NAME {sql.finished('__hw_merged', system_columns)}")
        return int(written[0]) if written else 0
    finally:
        temps = ["__hw_delta", "__hw_merged", *(f"__hw_pairs{j}" for j in new_pairs)]
        for temp in temps:
            lake.execute(f"DROP TABLE IF EXISTS temp.{temp}")


def _add_pairs(
    lake: Lake, sql: ViewSQL, j: int, rows: str, pairs: str, bounds: list[str], params: list[object]
) -> str:
    """Insert the (key, value) pairs of count(DISTINCT) ``j`` that the changed ``rows`` bring and the
    set table lacks; returns the temporary table of those new pairs. The set table is read
    only within ``bounds``, the range of the changed rows' keys: it is sorted by them, so that
    its row groups outside are skipped (new rows of a time series fall on its last groups).
    New pairs that fill less than a row group are written unsorted (DuckLake skips a file by
    its keys' range; within one row group the order would skip nothing), saving the sort."""
    temp = f"__hw_pairs{j}"
    where = f" WHERE {' AND '.join(bounds)}" if bounds else ""
    # (an anti join rather than EXCEPT: that one makes the new pairs distinct a second time)
    added = lake.fetchone(
        f"CREATE OR REPLACE TEMP TABLE {temp} AS SELECT r.* FROM "
        f"({sql.pairs(j, f'SELECT * FROM ({rows}) WHERE {SIGN} > 0')}) r "
        f"ANTI JOIN (SELECT {sql.key_list()}, __hw_v FROM {pairs}{where}) p "
        f"ON {sql.key_match('p', 'r')} AND p.__hw_v = r.__hw_v",
        params,
    )
    order = f" ORDER BY {sql.key_list()}" if added and added[0] > ROW_GROUP_ROWS else ""
    lake.execute(f"INSERT INTO {pairs} SELECT * FROM {temp}{order}")
    return temp


def remember_inputs(
    lake: Lake, view: str, shape: Shape, decided: Decision, columns: dict[str, dict[str, str]], how: str
) -> None:
    """Remember its inputs' ids and columns after a full recompute (which forgot them:
    ``drop_state``). After an incremental refresh, whose inputs are the ones remembered
    already, there is nothing to write: the snapshot it read goes in its clock row."""
    if how == "incremental" and decided.same_inputs:
        return
    ids = table_ids(lake)
    lake.execute(f"DELETE FROM {VIEW_INPUTS} WHERE view_name = ?", [view])
    lake.con.executemany(
        f"INSERT INTO {VIEW_INPUTS} VALUES (?, ?, ?, ?, ?)",
        [
            [view, str(t), ids.get(str(t), -1), decided.snapshot, signature(columns.get(str(t), {}))]
            for t in (shape.fact, *shape.dimensions)
        ],
    )
