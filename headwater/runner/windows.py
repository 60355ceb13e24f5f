"""Window arithmetic and the rewriting of a job's SQL for one window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlglot import exp

from headwater.lake import LAKE

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor_window(t: datetime, seconds: int) -> datetime:
    """Start of the window containing ``t``; windows are aligned to multiples of the interval."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    elapsed = int((t - EPOCH).total_seconds() // seconds) * seconds
    return EPOCH + timedelta(seconds=elapsed)


def ts_literal(t: datetime) -> exp.Expression:
    return exp.cast(exp.Literal.string(t.astimezone(UTC).isoformat()), exp.DataType.build("TIMESTAMPTZ"))


def _is_call(node: exp.Expression | None, name: str) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).lower() == name


def bind_window(expression: exp.Expr, start: datetime, end: datetime) -> exp.Expr:
    """Replace run_start_time()/run_end_time() with the window's bounds. ``x BETWEEN
    run_start_time() AND run_end_time()`` becomes the half-open ``x >= start AND x < end``;
    ``system.*`` tables are qualified with the lake."""
    tree = expression.copy()

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Between) and _is_call(node.args.get("high"), "run_end_time"):
            value = node.this.transform(rewrite)
            low = node.args["low"].transform(rewrite)
            return exp.paren(
                exp.and_(
                    exp.GTE(this=value, expression=low), exp.LT(this=value.copy(), expression=ts_literal(end))
                )
            )
        if _is_call(node, "run_start_time"):
            return ts_literal(start)
        if _is_call(node, "run_end_time"):
            return ts_literal(end)
        return node

    return qualify_system_tables(tree.transform(rewrite))


def qualify_system_tables(expression: exp.Expr) -> exp.Expr:
    """``system.runs`` -> ``lake.system.runs`` (DuckDB has a built-in catalog named system)."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and (node.db or "").lower() == "system" and not node.catalog:
            node = node.copy()
            node.set("catalog", exp.to_identifier(LAKE))
        return node

    return expression.transform(rewrite)
