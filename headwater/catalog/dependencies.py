"""Which lake tables a piece of SQL reads, inferred from the sqlglot tree."""

from __future__ import annotations

from sqlglot import exp

from headwater.dialect.nodes import TableName


def table_name(table: exp.Table) -> TableName:
    return TableName(table.db or "main", table.name)


def tables_read(expression: exp.Expr, *, exclude: TableName | None = None) -> list[TableName]:
    """Tables referenced in FROM/JOIN/USING anywhere in ``expression``, minus CTE names,
    table functions and ``exclude`` (the table a job writes). Sorted, without repeats."""
    ctes = {cte.alias_or_name.lower() for cte in expression.find_all(exp.CTE)}
    found: set[TableName] = set()
    for table in expression.find_all(exp.Table):
        if not table.name or isinstance(table.this, exp.Func):
            continue
        if not table.db and table.name.lower() in ctes:
            continue
        name = table_name(table)
        if name != exclude:
            found.add(name)
    return sorted(found, key=str)
