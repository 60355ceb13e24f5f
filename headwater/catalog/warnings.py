"""What is valid but most likely not what its author meant: said by `validate` and `plan`,
never refused (a job may mean to read its inputs whole)."""

from __future__ import annotations

from sqlglot import exp

from headwater.catalog.model import Catalog, Entry
from headwater.dialect.nodes import CreateTransformJob

_WINDOW_FUNCTIONS = frozenset({"run_start_time", "run_end_time"})


def window_warning(entry: Entry) -> str | None:
    """An INSERT job whose SQL never bounds its window reads its inputs whole in every window,
    and writes all of their rows again each time."""
    stmt = entry.statement
    if not isinstance(stmt, CreateTransformJob) or not isinstance(stmt.body, exp.Insert):
        return None
    for call in stmt.body.find_all(exp.Anonymous):
        if str(call.this).lower() in _WINDOW_FUNCTIONS:
            return None
    column = "$event_time" if stmt.sync else "$commit_time"
    return (
        f"job {stmt.name} ({stmt.pos}) has no window filter: each window reads its inputs whole and "
        f"inserts all of their rows again; bound it with `WHERE {column} BETWEEN run_start_time() "
        "AND run_end_time()`"
    )


def warnings(catalog: Catalog) -> list[str]:
    """Every warning about the project's statements, in order of their names."""
    found = (window_warning(e) for e in catalog.of_kind("transform_job"))
    return [w for w in found if w]
