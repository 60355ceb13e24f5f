"""Which view queries refresh incrementally, and the reason given for the others."""

from __future__ import annotations

import pytest

from headwater.dialect import parse
from headwater.dialect.nodes import CreateMaterializedView, TableName
from headwater.plan.incremental import analyse


def how(query: str, columns: dict[str, list[str]] | None = None) -> str:
    (stmt,) = parse(f"CREATE MATERIALIZED VIEW gold.v AS {query}")
    assert isinstance(stmt, CreateMaterializedView)
    return analyse(stmt.query, lambda t: (columns or {}).get(str(t))).describe()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT customer, count(*) AS n, sum(amount) AS s FROM silver.orders GROUP BY customer",
        "SELECT customer, count(*) FROM silver.orders GROUP BY 1",
        "SELECT customer, avg(amount), min(amount), max(amount) FROM silver.orders GROUP BY ALL",
        "SELECT CAST(at AS DATE) AS day, count(DISTINCT customer) FROM silver.orders GROUP BY day",
        "SELECT c.country, sum(o.amount) FROM silver.orders o JOIN silver.customers c USING (id) GROUP BY c.country",
        "SELECT c.country, count(o.x) FROM silver.orders o LEFT JOIN silver.customers c ON c.id = o.id GROUP BY 1",
        "SELECT k, round(100.0 * count(*) FILTER (WHERE ok) / count(*), 1) AS pct FROM t GROUP BY k ORDER BY pct",
        "SELECT k, sum(x) FROM t WHERE x > 0 GROUP BY k HAVING count(*) > 2",
    ],
)
def test_incremental(query: str) -> None:
    assert how(query) == "incremental"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT sum(x) FROM t", "the query has no GROUP BY"),
        ("SELECT k, count(*) FROM t GROUP BY k LIMIT 3", "the query uses LIMIT"),
        ("SELECT DISTINCT k, count(*) FROM t GROUP BY k", "the query uses SELECT DISTINCT"),
        ("WITH a AS (SELECT * FROM t) SELECT k, count(*) FROM a GROUP BY k", "the query uses a WITH clause"),
        ("SELECT k, count(*) FROM (SELECT * FROM t) s GROUP BY k", "the query has a subquery"),
        ("SELECT k, count(*) FROM t WHERE x IN (SELECT x FROM u) GROUP BY k", "the query has a subquery"),
        ("SELECT k, median(x) FROM t GROUP BY k", "median() is not maintained incrementally"),
        ("SELECT k, sum(DISTINCT x) FROM t GROUP BY k", "sum() has DISTINCT or ORDER BY inside"),
        ("SELECT k, count(*) FROM t WHERE at > now() GROUP BY k", "the query calls now(), whose value changes from run to run"),
        ("SELECT k, count(*) FROM t a FULL JOIN u b ON a.k = b.k GROUP BY k", "the query uses a FULL JOIN (only inner and left joins are)"),
        ("SELECT k, count(*) FROM t a RIGHT JOIN u b ON a.k = b.k GROUP BY k", "the query uses a RIGHT JOIN (only inner and left joins are)"),
        ("SELECT a.k, count(*) FROM t a JOIN t b ON a.k = b.k GROUP BY 1", "the query reads main.t twice"),
        ("SELECT job, count(*) FROM system.runs GROUP BY job", "the query reads system tables"),
        ("SELECT k, sum(x) + y FROM t GROUP BY k, y", "a select item uses the column y outside an aggregate"),
        ("SELECT sum(x) FROM t GROUP BY k", "GROUP BY k is not one of the select list's columns"),
        ("SELECT k % 2 AS p, count(*) FROM t GROUP BY k", "GROUP BY k is not one of the select list's columns"),
        ("SELECT k, row_number() OVER () FROM t GROUP BY k", "the query uses a window function"),
        ("SELECT k, count(*) FROM t GROUP BY k UNION ALL SELECT 1, 2", "the query is not a single SELECT (UNION, INTERSECT, EXCEPT or VALUES)"),
        ("SELECT k, count(*) FROM t GROUP BY ROLLUP (k)", "the query uses GROUPING SETS, CUBE or ROLLUP"),
    ],
)  # fmt: skip
def test_full_recompute_says_why(query: str, reason: str) -> None:
    assert how(query) == f"full recompute: {reason}"


def test_a_group_by_name_that_is_an_input_column_is_that_column() -> None:
    """DuckDB binds ``GROUP BY name`` to the input column when there is one, not to the alias
    ``upper(name) AS name``: the view's groups are then not its select list's rows."""
    query = "SELECT upper(name) AS name, count(*) FROM t GROUP BY name"
    assert how(query, {str(TableName("main", "t")): ["name"]}) == (
        "full recompute: GROUP BY name is not one of the select list's columns"
    )
    assert how(query, {str(TableName("main", "t")): ["other"]}) == "incremental"
