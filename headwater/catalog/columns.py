"""The columns a job's options and expectations name, checked against the columns there are.

A name that matches no column is an error, never a silent no-op: a misspelt
COLUMN_TRANSFORMATIONS input would store the value in clear, a misspelt EXPECT column would
read as NULL and drop every row, a misspelt dedupe key would deduplicate nothing. Names match
as DuckDB matches them: case-insensitively; a dotted path (``customer.email``) is checked by its
first part, the column.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlglot import exp

from headwater.catalog.errors import CatalogError
from headwater.catalog.model import Catalog
from headwater.dialect.nodes import CreateIngestJob, Expectation, Position, TableName


@dataclass(frozen=True)
class NameUse:
    """A column named by a job: by what (``EXPECT e``, ``EVENT_TIME``, ...), and where."""

    name: str
    by: str
    pos: Position | None
    excluded: bool = False  # a top-level EXCLUDE_COLUMNS name: never a column of the table


def expression_columns(expression: exp.Expression) -> list[str]:
    """The columns an expression reads (first part of a dotted path), without lambda
    parameters, system columns (``$source``) and repeats, in order."""
    bound = {
        ident.name.lower()
        for lam in expression.find_all(exp.Lambda)
        for ident in lam.expressions
        if isinstance(ident, exp.Identifier | exp.Column)
    }
    names: list[str] = []
    for column in expression.find_all(exp.Column):
        parts = column.parts
        if not parts or isinstance(column.this, exp.Star):
            continue
        name = parts[0].name
        if name.lower() in bound or name.startswith("$") or name in names:
            continue
        names.append(name)
    return names


def expectation_uses(expectations: Iterable[Expectation], fallback: Position | None) -> list[NameUse]:
    return [
        NameUse(name, f"expectation {e.name}", e.pos or fallback)
        for e in expectations
        for name in expression_columns(e.predicate)
    ]


def option_position(stmt: CreateIngestJob, option: str) -> Position:
    """Where ``option`` is written in the statement (the statement's start if not found)."""
    found = re.search(rf"\b{option}\s*=", stmt.text, re.IGNORECASE)
    if found is None:
        return stmt.pos
    before = stmt.text[: found.start()]
    if "\n" not in before:
        return Position(stmt.pos.file, stmt.pos.line, stmt.pos.col + found.start())
    return Position(stmt.pos.file, stmt.pos.line + before.count("\n"), len(before) - before.rfind("\n"))


def ingest_uses(stmt: CreateIngestJob, expectations: Iterable[Expectation] | None = None) -> list[NameUse]:
    """Every column an ingestion job names: its options', and its expectations'."""
    opts = stmt.options
    uses: list[NameUse] = []
    if opts.event_time is not None:
        pos = option_position(stmt, "EVENT_TIME")
        uses += [NameUse(n, "EVENT_TIME", pos) for n in expression_columns(opts.event_time)]
    pos = option_position(stmt, "COLUMN_TRANSFORMATIONS")
    for t in opts.column_transformations:
        by = f"COLUMN_TRANSFORMATIONS ({t.target} = ...)"
        uses += [NameUse(n, by, pos) for n in expression_columns(t.expression)]
        if "." in t.target:  # a field of a column: the column must exist
            uses.append(NameUse(t.target.split(".")[0], by, pos))
    pos = option_position(stmt, "EXCLUDE_COLUMNS")
    uses += [
        NameUse(c.split(".")[0], "EXCLUDE_COLUMNS", pos, "." not in c)
        for c in opts.exclude_columns
        if not c.startswith("$")
    ]
    if opts.deduplicate_with is not None:
        pos = option_position(stmt, "DEDUPLICATE_WITH")
        by = "DEDUPLICATE_WITH COLUMNS"
        # (a system column, $kafka_key, is the source's: catalog.sources checks it)
        uses += [
            NameUse(c.split(".")[0], by, pos) for c in opts.deduplicate_with.columns if not c.startswith("$")
        ]
    pos = stmt.pos
    uses += expectation_uses(stmt.expectations if expectations is None else expectations, pos)
    return uses


def _close(name: str, columns: list[str]) -> str | None:
    spelled = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(name.lower(), list(spelled), n=1, cutoff=0.6)
    return spelled[close[0]] if close else None


def _misspelt(name: str, columns: list[str]) -> bool:
    """``name`` is one edit (a letter added, left out, changed, or two swapped) away from a
    column, ignoring case: a likely misspelling rather than a column still to come."""
    a = name.lower()
    for column in columns:
        b = column.lower()
        if a == b or max(len(a), len(b)) < 3 or abs(len(a) - len(b)) > 1:
            continue
        if len(a) == len(b):
            diff = [i for i in range(len(a)) if a[i] != b[i]]
            swapped = (
                len(diff) == 2
                and diff[1] == diff[0] + 1
                and a[diff[0]] == b[diff[1]]
                and a[diff[1]] == b[diff[0]]
            )
            if len(diff) == 1 or swapped:
                return True
        else:
            short, long = sorted((a, b), key=len)
            if any(long[:i] + long[i + 1 :] == short for i in range(len(long))):
                return True
    return False


def unknown_uses(
    uses: Iterable[NameUse], columns: Iterable[str], *, first: bool = False, lenient: bool = False
) -> list[NameUse]:
    """The uses that name none of ``columns``. An excluded column is never stored, so the
    table never has it: once the table has columns (not ``first``), a batch without it is
    fine unless the name is a likely misspelling of a column there is. ``lenient`` treats
    every name so (the table's columns without the data's, before a run: data may add some)."""
    columns = [c for c in columns if not c.startswith("$")]
    known = {c.lower() for c in columns}
    return [
        u
        for u in uses
        if u.name.lower() not in known
        and (first or not (u.excluded or lenient) or _misspelt(u.name, columns))
    ]


def check_names(
    job: str,
    uses: Iterable[NameUse],
    columns: Iterable[str],
    where: str,
    *,
    first: bool = False,
    lenient: bool = False,
    table: TableName | None = None,
) -> None:
    """Raise a CatalogError for the first name in ``uses`` that is none of ``columns``
    (``where`` says whose columns they are: ``raw.orders``, ``the data of raw.orders``).
    ``first``: the table has no columns yet, ``columns`` are its first records' (``table``)."""
    columns = list(dict.fromkeys(c for c in columns if not c.startswith("$")))
    missing = unknown_uses(uses, columns, first=first, lenient=lenient)
    if not missing:
        return
    use = missing[0]
    close = _close(use.name, columns)
    hint = f"did you mean {close!r}?" if close else "check the spelling"
    if first and table is not None and not close:
        hint += f"; if the records may lack it, declare it: CREATE TABLE {table} ({use.name} <type>, ...)"
    if use.by.startswith("expectation"):
        hint += "; a text value is written in single quotes ('paid'), a column name is not"
    shown = ", ".join(columns) if columns else "none"
    raise CatalogError(
        f"job {job}: {use.by} names column {use.name!r}, which is not a column of {where} (columns: {shown})",
        pos=use.pos,
        hint=hint,
    )


def check_job_columns(catalog: Catalog, columns_of: Callable[[TableName], list[str] | None] | None) -> None:
    """Every ingestion job's named columns against its target's columns, where it has some:
    in the lake (``columns_of``, None: the lake is not open) or declared with CREATE TABLE."""
    tables = catalog.tables
    for entry in catalog.of_kind("ingest_job"):
        stmt = entry.statement
        assert isinstance(stmt, CreateIngestJob)
        if stmt.target is None:
            continue
        have = columns_of(stmt.target) if columns_of is not None else None
        if not have:
            declared = tables.get(str(stmt.target))
            have = [c.name for c in declared.columns] if declared is not None else None
        if have:  # (lenient: the data may bring columns the table does not have yet)
            check_names(stmt.name, ingest_uses(stmt), have, str(stmt.target), lenient=True)


def names_columns(catalog: Catalog) -> bool:
    """Whether any ingestion job names a column (else there is nothing to check)."""
    return any(
        ingest_uses(e.statement)
        for e in catalog.of_kind("ingest_job")
        if isinstance(e.statement, CreateIngestJob)
    )
