"""Which materialized views can refresh from their inputs' changes instead of recomputing.

A view is *incremental* when its query is one ``SELECT ... GROUP BY`` over one lake table
(the fact table), optionally joined (inner or left, the fact table on the left) with other
lake tables (dimension tables), and every aggregate is ``count(*)``, ``count(x)``,
``sum(x)``, ``avg(x)``, ``min(x)``, ``max(x)`` or ``count(DISTINCT x)``. Its rows are then
kept up to date from the fact table's changes since the last refresh; a change to a
dimension table (and, for some aggregates, a deletion) falls back to a full recompute at
run time. Anything else is recomputed in full, and ``analyse`` says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sqlglot import exp

from headwater.catalog.dependencies import table_name
from headwater.dialect.nodes import TableName

AggKind = Literal["count_star", "count", "sum", "avg", "min", "max", "count_distinct"]
# Functions whose value changes from one run to the next: a view using them is not a
# function of its inputs' rows, so only a full recompute is correct.
VOLATILE = frozenset(
    {
        "random",
        "rand",
        "now",
        "current_timestamp",
        "current_date",
        "current_time",
        "currenttimestamp",
        "currentdate",
        "currenttime",
        "today",
        "uuid",
        "gen_random_uuid",
        "nextval",
        "setseed",
        "get_current_time",
        "get_current_timestamp",
        "localtimestamp",
        "localtime",
        "transaction_timestamp",
    }
)
_AGGREGATES: dict[type[exp.Expr], AggKind] = {
    exp.Sum: "sum",
    exp.Avg: "avg",
    exp.Min: "min",
    exp.Max: "max",
}
# Other DuckDB aggregate functions that sqlglot parses as plain (anonymous) functions.
_DUCKDB_AGGREGATES = frozenset(
    {
        "any_value", "arbitrary", "arg_max", "arg_min", "bit_and", "bit_or", "bit_xor", "bool_and",
        "bool_or", "count_if", "countif", "entropy", "favg", "first", "fsum", "geomean", "histogram",
        "kurtosis", "last", "list", "mad", "median", "mode", "product", "quantile", "quantile_cont",
        "quantile_disc", "reservoir_quantile", "sem", "skewness", "string_agg", "sumkahan", "kahan_sum",
        "approx_count_distinct", "approx_quantile", "bitstring_agg", "group_concat", "listagg",
        "max_by", "min_by", "regr_avgx", "regr_count", "stddev", "variance", "corr", "covar_pop",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Aggregate:
    kind: AggKind
    arg: exp.Expr | None  # the argument, evaluated on each input row (None: count(*))

    @property
    def invertible(self) -> bool:
        """Whether a deleted input row can be taken back out of the aggregate's state."""
        return self.kind in ("count_star", "count", "sum", "avg")


@dataclass(frozen=True)
class Shape:
    """An incremental view's query, taken apart."""

    query: exp.Select
    fact: TableName
    dimensions: tuple[TableName, ...]
    keys: tuple[int, ...]  # select items without aggregates: together, one row per group
    aggregates: tuple[Aggregate, ...]
    index: dict[str, int] = field(repr=False)  # aggregate SQL -> position in ``aggregates``

    def aggregate_of(self, node: exp.Expr) -> int | None:
        return self.index.get(node.sql(dialect="duckdb")) if is_aggregate(node) else None


@dataclass(frozen=True)
class Analysis:
    shape: Shape | None
    reason: str = ""

    @property
    def incremental(self) -> bool:
        return self.shape is not None

    def describe(self) -> str:
        return "incremental" if self.shape is not None else f"full recompute: {self.reason}"


class _NotIncremental(Exception):
    pass


def is_aggregate(node: exp.Expr) -> bool:
    """An aggregate call (with its FILTER clause, if any: the two are one unit)."""
    if isinstance(node, exp.Filter):
        return _aggregate_call(node.this)
    return _aggregate_call(node) and not isinstance(node.parent, exp.Filter)


def _aggregate_call(node: exp.Expr) -> bool:
    if isinstance(node, exp.AggFunc):
        return True
    return isinstance(node, exp.Anonymous) and node.name.lower() in _DUCKDB_AGGREGATES


def analyse(query: exp.Expr, columns_of: Callable[[TableName], list[str] | None] | None = None) -> Analysis:
    """Whether the view's ``query`` refreshes incrementally, and if not, why (in words).
    ``columns_of`` gives an input table's columns (None: unknown), to tell a GROUP BY of a
    select alias from one of an input column of the same name."""
    try:
        return Analysis(_shape(query, columns_of or (lambda _t: None)))
    except _NotIncremental as e:
        return Analysis(None, str(e))


def _shape(query: exp.Expr, columns_of: Callable[[TableName], list[str] | None]) -> Shape:
    if not isinstance(query, exp.Select):
        raise _NotIncremental("the query is not a single SELECT (UNION, INTERSECT, EXCEPT or VALUES)")
    for arg, words in (
        ("with_", "a WITH clause"),
        ("with", "a WITH clause"),
        ("distinct", "SELECT DISTINCT"),
        ("limit", "LIMIT"),
        ("offset", "OFFSET"),
        ("qualify", "QUALIFY"),
    ):
        if query.args.get(arg):
            raise _NotIncremental(f"the query uses {words}")
    group = query.args.get("group")
    if not group:
        raise _NotIncremental("the query has no GROUP BY")
    if any(group.args.get(a) for a in ("grouping_sets", "cube", "rollup")) or any(
        isinstance(g, exp.Rollup | exp.Cube | exp.GroupingSets) for g in group.expressions
    ):
        raise _NotIncremental("the query uses GROUPING SETS, CUBE or ROLLUP")
    for node in query.walk():
        if node is not query and isinstance(node, exp.Select | exp.Subquery):
            raise _NotIncremental("the query has a subquery")
        if isinstance(node, exp.Window):
            raise _NotIncremental("the query uses a window function")
        name = (node.name if isinstance(node, exp.Anonymous) else type(node).__name__).lower()
        if isinstance(node, exp.Func) and name in VOLATILE:
            raise _NotIncremental(f"the query calls {name}(), whose value changes from run to run")
        if isinstance(node, exp.Column) and node.args.get("db"):
            raise _NotIncremental(f"the column {node.sql(dialect='duckdb')} is qualified with its schema")
    fact, dimensions = _tables(query)
    aggregates: list[Aggregate] = []
    index: dict[str, int] = {}
    keys: list[int] = []
    for i, item in enumerate(query.expressions):
        expr = item.this if isinstance(item, exp.Alias) else item
        found = [n for n in expr.walk() if is_aggregate(n)]
        if not found:
            if any(isinstance(n, exp.Star) for n in expr.walk()):
                raise _NotIncremental("the select list has *")
            keys.append(i)
            continue
        _outside_aggregates(expr, "a select item")
        for node in found:
            _add_aggregate(node, aggregates, index)
    having = query.args.get("having")
    if having:
        _outside_aggregates(having.this, "HAVING")
        for node in having.this.walk():
            if is_aggregate(node):
                _add_aggregate(node, aggregates, index)
    if not aggregates:
        raise _NotIncremental("the query has no aggregate")
    _check_group_by(query, group, keys, [fact, *dimensions], columns_of)
    return Shape(query, fact, tuple(dimensions), tuple(keys), tuple(aggregates), index)


def _tables(query: exp.Select) -> tuple[TableName, list[TableName]]:
    from_ = query.args.get("from_") or query.args.get("from")
    source = from_.this if from_ else None
    if not isinstance(source, exp.Table) or not source.name or isinstance(source.this, exp.Func):
        raise _NotIncremental("the query does not read FROM a lake table")
    fact = table_name(source)
    if fact.schema == "system":
        raise _NotIncremental("the query reads system tables")
    dimensions: list[TableName] = []
    for join in query.args.get("joins") or []:
        side, kind = (join.args.get("side") or "").upper(), (join.args.get("kind") or "").upper()
        if join.args.get("method") or kind not in ("", "INNER", "OUTER", "CROSS") or side not in ("", "LEFT"):
            words = " ".join(w for w in (join.args.get("method"), side, kind) if w)
            raise _NotIncremental(f"the query uses a {words.upper()} JOIN (only inner and left joins are)")
        if kind == "OUTER" and side != "LEFT":
            raise _NotIncremental("the query uses a FULL OUTER JOIN")
        table = join.this
        if not isinstance(table, exp.Table) or not table.name or isinstance(table.this, exp.Func):
            raise _NotIncremental("the query joins something other than a lake table")
        dimension = table_name(table)
        if dimension.schema == "system":
            raise _NotIncremental("the query reads system tables")
        if dimension == fact:
            raise _NotIncremental(f"the query reads {fact} twice")
        dimensions.append(dimension)
    return fact, dimensions


def _outside_aggregates(expr: exp.Expr, where: str) -> None:
    """A column outside any aggregate, in an expression that has aggregates, is refused."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if is_aggregate(node):
            continue
        if isinstance(node, exp.Column):
            raise _NotIncremental(
                f"{where} uses the column {node.sql(dialect='duckdb')} outside an aggregate"
            )
        stack.extend(node.iter_expressions())


def _add_aggregate(node: exp.Expr, aggregates: list[Aggregate], index: dict[str, int]) -> None:
    sql = node.sql(dialect="duckdb")
    if sql in index:
        return
    condition = None
    if isinstance(node, exp.Filter):  # agg(x) FILTER (WHERE c) is agg(CASE WHEN c THEN x END)
        condition = node.expression.this
        node = node.this
    name = node.sql(dialect="duckdb").split("(")[0].lower()
    arg = node.this if not isinstance(node, exp.Anonymous) else None
    if any(_aggregate_call(n) for n in node.walk() if n is not node):
        raise _NotIncremental(f"{name}() has an aggregate inside")
    if isinstance(node, exp.Count) and not node.expressions:
        if arg is None or isinstance(arg, exp.Star):
            agg = Aggregate("count_star", None)
        elif isinstance(arg, exp.Distinct):
            if len(arg.expressions) != 1:
                raise _NotIncremental("count(DISTINCT ...) has more than one argument")
            agg = Aggregate("count_distinct", arg.expressions[0])
        else:
            agg = Aggregate("count", arg)
    elif type(node) in _AGGREGATES and not node.expressions and arg is not None:
        if isinstance(arg, exp.Distinct | exp.Order):
            raise _NotIncremental(f"{name}() has DISTINCT or ORDER BY inside")
        agg = Aggregate(_AGGREGATES[type(node)], arg)
    else:
        raise _NotIncremental(f"{name}() is not maintained incrementally")
    if condition is not None:
        value = agg.arg.copy() if agg.arg is not None else exp.Literal.number(1)
        agg = Aggregate(
            "count" if agg.kind == "count_star" else agg.kind, exp.case().when(condition.copy(), value)
        )
    index[sql] = len(aggregates)
    aggregates.append(agg)


def _check_group_by(
    query: exp.Select,
    group: exp.Group,
    keys: list[int],
    tables: list[TableName],
    columns_of: Callable[[TableName], list[str] | None],
) -> None:
    """Every GROUP BY expression must be a select item without aggregates, so that those
    items identify a group (its row in the view)."""
    if group.args.get("all"):
        return
    items = query.expressions
    key_exprs = [items[i].this if isinstance(items[i], exp.Alias) else items[i] for i in keys]
    input_columns: set[str] = set()
    for table in tables:
        input_columns |= {c.lower() for c in columns_of(table) or []}
    for g in group.expressions:
        if isinstance(g, exp.Literal) and not g.is_string:
            n = int(g.name) - 1
            if 0 <= n < len(items) and n in keys:
                continue
        elif any(g == k for k in key_exprs):
            continue
        elif isinstance(g, exp.Column):
            name = g.name.lower()
            if any(isinstance(k, exp.Column) and k.name.lower() == name for k in key_exprs):
                continue
            aliased = [
                items[i] for i in keys if isinstance(items[i], exp.Alias) and items[i].alias.lower() == name
            ]
            if aliased and not g.table and name not in input_columns:
                continue
        raise _NotIncremental(f"GROUP BY {g.sql(dialect='duckdb')} is not one of the select list's columns")
