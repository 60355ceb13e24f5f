"""Which SQL only reads, and which tables a writing statement writes.

``headwater query`` runs read-only SQL unless writes are asked for, and never lets a
statement write into the system or internal schemas. The classification is by statement
type, on the sqlglot tree: an allow-list of reading statements, everything else writes.
"""

from __future__ import annotations

from sqlglot import exp

# SELECT (with WITH, FROM-first, set operations), VALUES, SHOW, DESCRIBE, SUMMARIZE, PIVOT.
_READING: tuple[type[exp.Expr], ...] = (
    exp.Select,
    exp.SetOperation,
    exp.Subquery,
    exp.Values,
    exp.Show,
    exp.Describe,
    exp.Summarize,
    exp.Pivot,
)
# PRAGMAs that only report (DuckDB's PRAGMA x is CALL pragma_x(); these are the reading ones).
_READING_PRAGMAS = frozenset(
    {
        "database_size",
        "database_list",
        "functions",
        "platform",
        "show",
        "show_databases",
        "show_tables",
        "show_tables_expanded",
        "storage_info",
        "table_info",
        "user_agent",
        "version",
        "collations",
        "metadata_info",
    }
)
# Statements that change which schema or database a bare name means.
_RESCOPING: tuple[type[exp.Expr], ...] = (exp.Use, exp.Attach, exp.Detach, exp.Set)


def explained(expression: exp.Expr) -> str | None:
    """The SQL after ``EXPLAIN [ANALYZE]`` (sqlglot keeps EXPLAIN as an opaque command)."""
    if isinstance(expression, exp.Command) and expression.name.upper() == "EXPLAIN":
        rest = expression.expression
        text = rest.name if isinstance(rest, exp.Literal) else str(rest or "")
        words = text.split(None, 1)
        if words and words[0].upper() == "ANALYZE":
            text = words[1] if len(words) > 1 else ""
        return text
    return None


def is_read_only(expression: exp.Expr) -> bool:
    """True for statements that cannot change data (EXPLAIN is checked by the caller)."""
    if isinstance(expression, exp.Pragma):
        call = expression.this
        name = call.name if isinstance(call, exp.Expr) else str(call)
        return name.lower() in _READING_PRAGMAS
    if isinstance(expression, exp.Select) and expression.args.get("into"):
        return False  # SELECT ... INTO creates a table
    return isinstance(expression, _READING)


def rescopes(expression: exp.Expr) -> bool:
    """USE, ATTACH, DETACH and SET change what a bare table name means: never through `query`."""
    return isinstance(expression, _RESCOPING)


def written_tables(expression: exp.Expr) -> list[exp.Table]:
    """The tables a writing statement writes (its target). For a statement type whose target
    is not known here, every table it names: the caller then refuses more than necessary,
    never less."""
    if isinstance(expression, exp.Insert | exp.Delete | exp.Update | exp.Merge | exp.Create | exp.Alter):
        target = expression.this
        if isinstance(target, exp.Schema):
            target = target.this
        return [target] if isinstance(target, exp.Table) else list(expression.find_all(exp.Table))
    if isinstance(expression, exp.Drop | exp.TruncateTable):
        return list(expression.find_all(exp.Table))
    if isinstance(expression, exp.Copy):
        target = expression.this
        if expression.args.get("kind"):  # COPY t FROM 'file' writes t
            return [target] if isinstance(target, exp.Table) else []
        return []  # COPY ... TO 'file' writes a file, not a table
    return list(expression.find_all(exp.Table))
