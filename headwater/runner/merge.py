"""MERGE jobs: one window's USING rows merged into the target, in source order.

DuckDB's MERGE applies a target row's first matching source row only, and inserts a new key
once per source row. A window often holds several rows of one key (an order placed, then
paid, then shipped), so the USING rows are numbered in the order the query returns them and
merged in rounds: round k holds each key's k-th row, so every key meets at most one source row
per MERGE and each row sees what the rows before it did — the last one wins. The key is the
source side of the ON condition's equalities with the target.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlglot import exp

from headwater.dialect import to_duckdb
from headwater.dialect.nodes import CreateTransformJob
from headwater.lake import Lake, quote
from headwater.lake.tables import ensure_table
from headwater.quality import batch as quality
from headwater.state import store

if TYPE_CHECKING:
    from headwater.runner.context import RunContext

USING = "hw_using"
ROUND = "__hw_round"


def merge_window(
    ctx: RunContext,
    stmt: CreateTransformJob,
    body: exp.Merge,
    run: store.RunRecord,
    commit_time: datetime,
    system: dict[str, str],
) -> None:
    from headwater.runner.transform import _expectations, _record_outcome

    lake = ctx.lake
    using = body.args["using"]
    alias = using.alias_or_name or "s"
    source_sql = to_duckdb(using.this if isinstance(using, exp.Subquery) else exp.select("*").from_(using))
    # The rows in the order the query returns them (an ORDER BY in it is kept).
    lake.execute(
        f"CREATE OR REPLACE TEMP TABLE {USING} AS SELECT *, row_number() OVER () AS {quality.LINE} "
        f"FROM ({source_sql})"
    )
    count = lake.fetchone(f"SELECT count(*) FROM {USING}")
    run.rows_read = int(count[0]) if count else 0
    _ensure_merge_target(ctx, stmt, body, source_sql)
    spec = ctx.quality_spec(ctx.catalog.job(stmt.name))  # type: ignore[arg-type]
    rows, kept, outcome = USING, None, None
    if spec.expectations:  # on the USING rows: those left out are not merged
        outcome = _expectations(ctx, stmt, spec, USING, "the rows of its USING query", run)
        kept = [*outcome.output_columns, quality.LINE]
        rows = (
            f"(SELECT {', '.join(quote(c) for c in kept)} FROM {outcome.table} WHERE {outcome.write_filter})"
        )
        _record_outcome(ctx, stmt, spec, outcome, run, commit_time)
    window_start = run.window_start or commit_time
    _add_system_values(body, system, window_start)
    key = _source_key(body, alias)
    rounds = 1
    if key:
        partition = ", ".join(to_duckdb(k) for k in key)
        lake.execute(
            f"CREATE OR REPLACE TEMP TABLE hw_rounds AS SELECT *, row_number() OVER "
            f"(PARTITION BY {partition} ORDER BY {quality.LINE}) AS {ROUND} FROM {rows} AS {quote(alias)}"
        )
        got = lake.fetchone(f"SELECT coalesce(max({ROUND}), 1) FROM hw_rounds")
        rounds = int(got[0]) if got else 1
        rows = "hw_rounds"
    affected = 0
    for k in range(1, rounds + 1):
        where = f" WHERE {ROUND} = {k}" if key else ""
        picked = f"(SELECT * EXCLUDE ({ROUND}) FROM {rows}{where})" if key else rows
        affected += _merge_rows(ctx, body, picked, alias)
    merged = run.rows_read
    if outcome is not None:
        run.rows_quarantined = outcome.quarantined
        merged = outcome.written
        outcome.drop(lake.con)
    lake.execute(f"DROP TABLE IF EXISTS {USING}")
    lake.execute("DROP TABLE IF EXISTS hw_rounds")
    run.rows_written = min(affected, merged)
    run.rows_dropped = run.rows_read - run.rows_written - run.rows_quarantined


def _merge_rows(ctx: RunContext, body: exp.Merge, rows: str, alias: str) -> int:
    """MERGE ``rows`` (a table or parenthesised query with ``__hw_line``) into the target;
    returns the target rows changed. DuckLake takes one UPDATE or DELETE action per MERGE: with
    several ``WHEN MATCHED`` clauses, each source row is first given the first clause whose
    condition holds against its target row, then each clause is merged with its own rows."""
    lake = ctx.lake
    whens = body.args["whens"].expressions
    matched = [w for w in whens if w.args.get("matched")]
    if len(matched) <= 1:
        return _merge_once(lake, body, f"SELECT * EXCLUDE ({quality.LINE}) FROM {rows}", alias)
    target = body.this
    on = to_duckdb(body.args["on"])
    cases = " ".join(
        f"WHEN {to_duckdb(w.args['condition']) if w.args.get('condition') else 'true'} THEN {i}"
        for i, w in enumerate(matched)
    )
    lake.execute(
        f"CREATE OR REPLACE TEMP TABLE hw_clauses AS SELECT {quote(alias)}.{quality.LINE}, "
        f"min(CASE {cases} END) AS __hw_clause FROM {rows} AS {quote(alias)} "
        f"JOIN {to_duckdb(target)} ON {on} GROUP BY ALL"
    )
    affected = 0
    for i, when in enumerate(matched):
        one = body.copy()
        one.set("whens", exp.Whens(expressions=[when.copy()]))
        affected += _merge_once(
            lake,
            one,
            f"SELECT r.* EXCLUDE ({quality.LINE}) FROM {rows} AS r "
            f"JOIN hw_clauses c ON c.{quality.LINE} = r.{quality.LINE} WHERE c.__hw_clause = {i}",
            alias,
        )
    rest = [w.copy() for w in whens if not w.args.get("matched")]
    if rest:
        one = body.copy()
        one.set("whens", exp.Whens(expressions=rest))
        affected += _merge_once(
            lake,
            one,
            f"SELECT * EXCLUDE ({quality.LINE}) FROM {rows} "
            f"WHERE {quality.LINE} NOT IN (SELECT {quality.LINE} FROM hw_clauses)",
            alias,
        )
    lake.execute("DROP TABLE IF EXISTS hw_clauses")
    return affected


def _merge_once(lake: Lake, body: exp.Merge, select: str, alias: str) -> int:
    picked: exp.Expression = exp.maybe_parse(select, dialect="duckdb")
    body.set("using", exp.Subquery(this=picked, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    row = lake.fetchone(to_duckdb(body))
    return int(row[0]) if row else 0


def _add_system_values(body: exp.Merge, system: dict[str, str], window_start: datetime) -> None:
    """Every row the MERGE inserts or updates gets the job's ``$commit_time``, ``$run_id`` and
    ``$source``; an inserted row's ``$event_time`` is the window's start."""
    for when in body.args["whens"].expressions:
        then = when.args.get("then")
        if isinstance(then, exp.Update):
            for k, v in system.items():
                then.append(
                    "expressions",
                    exp.EQ(
                        this=exp.column(exp.to_identifier(k, quoted=True)),
                        expression=exp.maybe_parse(v, dialect="duckdb"),
                    ),
                )
        elif isinstance(then, exp.Insert) and isinstance(then.this, exp.Tuple):
            values = {**system, "$event_time": f"TIMESTAMPTZ '{window_start.isoformat()}'"}
            for k, v in values.items():
                then.this.append("expressions", exp.column(exp.to_identifier(k, quoted=True)))
                then.expression.append("expressions", exp.maybe_parse(v, dialect="duckdb"))


def _source_key(body: exp.Merge, alias: str) -> list[exp.Expression]:
    """The source side of each ``target_expr = source_expr`` of the ON condition's top-level
    AND (the key a target row is matched on). Empty when there is none."""
    on = body.args.get("on")
    target = body.this
    target_alias = (target.alias_or_name if isinstance(target, exp.Table) else "") or ""
    target_names = {target_alias.lower(), (target.name if isinstance(target, exp.Table) else "").lower()}
    source_names = {alias.lower()}

    def side(node: exp.Expression) -> str | None:
        tables = {c.table.lower() for c in node.find_all(exp.Column)}
        if not tables or "" in tables:
            return None
        if tables <= source_names:
            return "source"
        if tables <= target_names:
            return "target"
        return None

    key: list[exp.Expression] = []
    conjuncts = list(on.flatten()) if isinstance(on, exp.And) else [on]
    for c in conjuncts:
        if isinstance(c, exp.EQ):
            sides = (side(c.this), side(c.expression))
            if sides == ("target", "source"):
                key.append(c.expression.copy())
            elif sides == ("source", "target"):
                key.append(c.this.copy())
    return key


def _ensure_merge_target(ctx: RunContext, stmt: CreateTransformJob, body: exp.Merge, source_sql: str) -> None:
    """Create (or extend) the MERGE target from its INSERT clause's columns and value types."""
    target = stmt.target
    have = (
        ctx.lake.columns(target.schema, target.name)
        if ctx.lake.table_exists(target.schema, target.name)
        else {}
    )
    for when in body.args["whens"].expressions:
        then = when.args.get("then")
        if not (isinstance(then, exp.Insert) and isinstance(then.this, exp.Tuple)):
            continue
        names = [c.name for c in then.this.expressions]
        if all(n in have for n in names):
            return
        alias = body.args["using"].alias_or_name or "s"
        values = ", ".join(
            f"{to_duckdb(v)} AS {quote(n)}" for n, v in zip(names, then.expression.expressions, strict=True)
        )
        rel = ctx.lake.con.sql(f"SELECT {values} FROM ({source_sql}) AS {quote(alias)} LIMIT 0")
        ensure_table(ctx.lake, target, dict(zip(rel.columns, (str(t) for t in rel.types), strict=True)))
        return
    if not have:
        ensure_table(ctx.lake, target, {})
