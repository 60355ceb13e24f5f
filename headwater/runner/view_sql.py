"""The SQL of an incremental view's refresh, from its query taken apart (``plan.incremental``).

An incremental view keeps, beside its table, a *state* table in the internal schema with one
row per group: the view's key columns (its select items without aggregates), the group's
row count ``__hw_n`` and each aggregate's partial values ``__hw_a<j>`` (and ``__hw_c<j>``,
the count of non-NULL values, for ``sum`` and ``avg``). Each ``count(DISTINCT x)`` has a
*set* table: the distinct (key, x) pairs. The view's rows are the state's, finished:
``sum`` is NULL when ``__hw_c`` is 0, ``avg`` is ``__hw_a / __hw_c``, a group whose
``__hw_n`` falls to 0 is gone, and HAVING filters the finished rows.

Input rows are first put in one shape, *rows*: the key columns, each aggregate's argument
``__hw_x<j>``, and (for changes) ``__hw_sign``: 1 for an inserted row, -1 for a deleted one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from headwater.dialect import to_duckdb
from headwater.lake import quote
from headwater.plan.incremental import Aggregate, Shape

SIGN = "__hw_sign"
ROW_COUNT = "__hw_n"
DELETED = "__hw_deleted"  # (delta_of_rows): the group's deleted rows


@dataclass(frozen=True)
class ViewSQL:
    shape: Shape
    names: list[str]  # output column names of the view's select items
    scales: dict[int, int] = field(default_factory=dict)  # aggregate -> its DECIMAL argument's scale

    @property
    def keys(self) -> list[str]:
        return [self.names[i] for i in self.shape.keys]

    def key_list(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote(k) for k in self.keys)

    def key_match(self, left: str, right: str) -> str:
        return " AND ".join(f"{left}.{quote(k)} IS NOT DISTINCT FROM {right}.{quote(k)}" for k in self.keys)

    # -- rows ------------------------------------------------------------------------------
    def rows(self, changes: str | None = None) -> str:
        """The input rows in the *rows* shape: of the whole fact table, or (``changes``: a
        query of its changed rows with their ``__hw_sign``) of its changes only."""
        query = self.shape.query.copy()
        items: list[exp.Expr] = []
        for i in self.shape.keys:
            item = query.expressions[i]
            items.append(
                exp.alias_(item.this if isinstance(item, exp.Alias) else item, self.names[i], quoted=True)
            )
        for j, agg in enumerate(self.shape.aggregates):
            if agg.arg is not None:
                items.append(exp.alias_(agg.arg.copy(), f"__hw_x{j}", quoted=True))
        if changes is not None:
            items.append(exp.column(SIGN))
        query.set("expressions", items)
        for arg in ("group", "having", "order"):
            query.set(arg, None)
        if changes is not None:
            from_ = query.args.get("from_") or query.args["from"]
            fact = from_.this
            alias = fact.alias_or_name
            source = sqlglot.parse_one(changes, dialect="duckdb")
            assert isinstance(source, exp.Query)
            fact.replace(source.subquery(alias))
        return to_duckdb(query)

    # -- state -----------------------------------------------------------------------------
    def state_of_rows(self, rows: str, pairs: dict[int, str]) -> str:
        """The state of all groups, from *rows* of the whole fact table; each
        ``count(DISTINCT)`` is counted from its set table in ``pairs`` (cheaper than
        counting distinct values again)."""
        cols = [f"count(*) AS {ROW_COUNT}"]
        for j, agg in enumerate(self.shape.aggregates):
            x = f"__hw_x{j}"
            if agg.kind == "count_star":
                cols.append(f"count(*) AS __hw_a{j}")
            elif agg.kind == "count":
                cols.append(f"count({x}) AS __hw_a{j}")
            elif agg.kind in ("sum", "avg"):
                cols += [f"sum({x}) AS __hw_a{j}", f"count({x}) AS __hw_c{j}"]
            elif agg.kind in ("min", "max"):
                cols.append(f"{agg.kind}({x}) AS __hw_a{j}")
        inner = f"SELECT {self.key_list()}, {', '.join(cols)} FROM ({rows}) GROUP BY {self.key_list()}"
        items, joins = ["r.*"], []
        for j, table in pairs.items():
            joins.append(
                f"LEFT JOIN (SELECT {self.key_list()}, count(*) AS n FROM {table} GROUP BY {self.key_list()}) "
                f"p{j} ON {self.key_match(f'p{j}', 'r')}"
            )
            items.append(f"coalesce(p{j}.n, 0) AS __hw_a{j}")
        return f"SELECT {', '.join(items)} FROM ({inner}) r {' '.join(joins)}"

    def delta_of_rows(self, rows: str, *, deleted: bool = False) -> str:
        """What the signed *rows* of some changes add to each group's state (``count(DISTINCT)``
        partials are counted from the set tables instead); ``deleted``: also how many of the
        group's rows were deleted (``DELETED``)."""
        cols = [f"sum({SIGN}) AS {ROW_COUNT}"]
        if deleted:
            cols.append(f"count(*) FILTER (WHERE {SIGN} < 0) AS {DELETED}")
        for j, agg in enumerate(self.shape.aggregates):
            x = f"__hw_x{j}"
            nonnull = f"sum(CASE WHEN {x} IS NULL THEN 0 ELSE {SIGN} END)"
            if agg.kind == "count_star":
                cols.append(f"sum({SIGN}) AS __hw_a{j}")
            elif agg.kind == "count":
                cols.append(f"{nonnull} AS __hw_a{j}")
            elif agg.kind in ("sum", "avg"):
                cols += [
                    f"coalesce(sum({x}) FILTER (WHERE {SIGN} > 0), 0) - "
                    f"coalesce(sum({x}) FILTER (WHERE {SIGN} < 0), 0) AS __hw_a{j}",
                    f"{nonnull} AS __hw_c{j}",
                ]
            elif agg.kind in ("min", "max"):
                cols.append(f"{agg.kind}({x}) AS __hw_a{j}")
        return f"SELECT {self.key_list()}, {', '.join(cols)} FROM ({rows}) GROUP BY {self.key_list()}"

    def merged(self, delta: str, state: str, new_pairs: dict[int, str]) -> str:
        """Each changed group's state after the change: its old state (if any) plus ``delta``;
        ``new_pairs``: per ``count(DISTINCT)`` aggregate, the table of pairs it gained."""
        cols = [f"coalesce(s.{ROW_COUNT}, 0) + d.{ROW_COUNT} AS {ROW_COUNT}"]
        joins = [f"LEFT JOIN {state} s ON {self.key_match('s', 'd')}"]
        for j, agg in enumerate(self.shape.aggregates):
            a = f"__hw_a{j}"
            if agg.kind in ("count_star", "count", "sum", "avg"):
                cols.append(f"coalesce(s.{a}, 0) + coalesce(d.{a}, 0) AS {a}")
                if agg.kind in ("sum", "avg"):
                    cols.append(f"coalesce(s.__hw_c{j}, 0) + d.__hw_c{j} AS __hw_c{j}")
            elif agg.kind in ("min", "max"):
                cols.append(f"{'least' if agg.kind == 'min' else 'greatest'}(s.{a}, d.{a}) AS {a}")
            else:
                joins.append(
                    f"LEFT JOIN (SELECT {self.key_list()}, count(*) AS n FROM {new_pairs[j]} "
                    f"GROUP BY {self.key_list()}) p{j} ON {self.key_match(f'p{j}', 'd')}"
                )
                cols.append(f"coalesce(s.{a}, 0) + coalesce(p{j}.n, 0) AS {a}")
        return f"SELECT {self.key_list('d')}, {', '.join(cols)} FROM {delta} d {' '.join(joins)}"

    def pairs(self, j: int, rows: str) -> str:
        """The distinct (key, value) pairs of ``count(DISTINCT)`` aggregate ``j`` in *rows*."""
        return f"SELECT DISTINCT {self.key_list()}, __hw_x{j} AS __hw_v FROM ({rows}) WHERE __hw_x{j} IS NOT NULL"

    # -- the view's rows -------------------------------------------------------------------
    def finished(self, state: str, extra: str = "") -> str:
        """The view's rows for the groups in ``state`` (alias ``__hw_s``): its select list
        over the state, without the groups that are gone or that HAVING leaves out."""
        items = []
        for i, item in enumerate(self.shape.query.expressions):
            if i in self.shape.keys:
                items.append(f"__hw_s.{quote(self.names[i])}")
            else:
                expr = item.this if isinstance(item, exp.Alias) else item
                items.append(f"{to_duckdb(self._finish(expr))} AS {quote(self.names[i])}")
        where = f"__hw_s.{ROW_COUNT} > 0"
        having = self.shape.query.args.get("having")
        if having:
            where += f" AND ({to_duckdb(self._finish(having.this))})"
        return f"SELECT {', '.join(items)}{extra} FROM {state} __hw_s WHERE {where}"

    def _finish(self, expr: exp.Expr) -> exp.Expr:
        def replace(node: exp.Expr) -> exp.Expr:
            j = self.shape.aggregate_of(node)
            if j is None:
                return node
            return sqlglot.parse_one(
                _finisher(self.shape.aggregates[j], j, self.scales.get(j, 0)), dialect="duckdb"
            )

        return expr.copy().transform(replace)


def _finisher(agg: Aggregate, j: int, scale: int) -> str:
    a = f"__hw_s.__hw_a{j}"
    if agg.kind in ("count_star", "count", "count_distinct"):
        return f"CAST({a} AS BIGINT)"
    if agg.kind == "sum":
        return f"(CASE WHEN __hw_s.__hw_c{j} = 0 THEN NULL ELSE {a} END)"
    if agg.kind == "avg":
        # as DuckDB's avg(): the sum's digits (unscaled) divided by the count times 10^scale
        c, unit = f"__hw_s.__hw_c{j}", 10**scale
        total = f"CAST(CAST({a} * {unit} AS HUGEINT) AS DOUBLE)" if scale else f"CAST({a} AS DOUBLE)"
        return f"(CASE WHEN {c} = 0 THEN NULL ELSE {total} / CAST({c} * {unit} AS DOUBLE) END)"
    return a
