"""The validated catalog of a project: connections, tables, jobs and views, with fingerprints
and the dependencies inferred from their SQL."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from typing import Literal

from sqlglot import exp

from headwater.catalog.dependencies import tables_read
from headwater.catalog.errors import CatalogError
from headwater.catalog.sources import check_source
from headwater.dialect.nodes import (
    AlterJob,
    AnyStatement,
    CreateConnection,
    CreateIngestJob,
    CreateMaterializedView,
    CreateTable,
    CreateTransformJob,
    Drop,
    PauseJob,
    ResumeJob,
    Statement,
    TableName,
)

EntryKind = Literal["connection", "table", "ingest_job", "transform_job", "materialized_view"]
SUPPORTED_SOURCES = ("FILES", "KAFKA")


@dataclass
class Entry:
    """One deployable object: its kind, name, statement and fingerprint."""

    kind: EntryKind
    name: str
    statement: Statement
    sql: str
    fingerprint: str
    reads: list[TableName] = field(default_factory=list)  # tables read (jobs, views)
    writes: TableName | None = None  # table written (jobs, views)


@dataclass
class Catalog:
    entries: dict[tuple[EntryKind, str], Entry] = field(default_factory=dict)
    queries: list[Statement] = field(default_factory=list)  # other statements, in file order

    def of_kind(self, *kinds: EntryKind) -> list[Entry]:
        return [e for (k, _), e in sorted(self.entries.items()) if k in kinds]

    @property
    def connections(self) -> dict[str, CreateConnection]:
        return {e.name: e.statement for e in self.of_kind("connection")}  # type: ignore[misc]

    @property
    def tables(self) -> dict[str, CreateTable]:
        return {e.name: e.statement for e in self.of_kind("table")}  # type: ignore[misc]

    @property
    def jobs(self) -> list[Entry]:
        return self.of_kind("ingest_job", "transform_job")

    @property
    def views(self) -> list[Entry]:
        return self.of_kind("materialized_view")

    def job(self, name: str) -> Entry | None:
        return self.entries.get(("ingest_job", name)) or self.entries.get(("transform_job", name))

    def known_tables(self) -> set[TableName]:
        names = {e.statement.table for e in self.of_kind("table")}  # type: ignore[attr-defined]
        names |= {
            e.writes for e in self.of_kind("ingest_job", "transform_job", "materialized_view") if e.writes
        }
        return names


def fingerprint(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()[:16]


def _canonical(stmt: Statement) -> str:
    try:
        return stmt.to_sql()
    except TypeError:
        return " ".join(stmt.text.split())


def build_catalog(
    statements: list[AnyStatement], *, existing_tables: set[TableName] | None = None
) -> Catalog:
    """Validate statements into a catalog. ``existing_tables`` are tables already in the lake
    (created interactively) that jobs may read without declaring them."""
    catalog = Catalog()
    seen_jobs: dict[str, Statement] = {}
    for stmt in statements:
        if isinstance(stmt, AlterJob | PauseJob | ResumeJob | Drop):
            raise CatalogError(
                f"{stmt.keywords} is for the deployed pipeline, not a project file",
                pos=stmt.pos,
                hint="in a project, edit or remove the CREATE statement instead; or run it with `headwater query`",
            )
        entry = _entry(stmt)
        if entry is None:
            catalog.queries.append(stmt)
            continue
        if entry.kind in ("ingest_job", "transform_job"):
            if entry.name in seen_jobs:
                raise CatalogError(
                    f"job {entry.name!r} is defined twice (first at {seen_jobs[entry.name].pos})",
                    pos=stmt.pos,
                )
            seen_jobs[entry.name] = stmt
        key = (entry.kind, entry.name)
        if key in catalog.entries:
            first = catalog.entries[key].statement.pos
            raise CatalogError(
                f"{entry.kind.replace('_', ' ')} {entry.name!r} is defined twice (first at {first})",
                pos=stmt.pos,
            )
        catalog.entries[key] = entry
    _check_references(catalog, existing_tables or set())
    return catalog


def _entry(stmt: AnyStatement) -> Entry | None:
    sql = _canonical(stmt)
    fp = fingerprint(sql)
    if isinstance(stmt, CreateConnection):
        return Entry("connection", stmt.name, stmt, sql, fp)
    if isinstance(stmt, CreateTable):
        return Entry("table", str(stmt.table), stmt, sql, fp)
    if isinstance(stmt, CreateIngestJob):
        return Entry("ingest_job", stmt.name, stmt, sql, fp, writes=stmt.target)
    if isinstance(stmt, CreateTransformJob):
        reads = tables_read(stmt.body, exclude=stmt.target)
        return Entry("transform_job", stmt.name, stmt, sql, fp, reads=reads, writes=stmt.target)
    if isinstance(stmt, CreateMaterializedView):
        return Entry(
            "materialized_view",
            str(stmt.view),
            stmt,
            sql,
            fp,
            reads=tables_read(stmt.query),
            writes=stmt.view,
        )
    return None


def _suggest(name: str, options: list[str]) -> str | None:
    close = difflib.get_close_matches(name, options, n=1)
    return f"did you mean {close[0]!r}?" if close else None


def _check_references(catalog: Catalog, existing: set[TableName]) -> None:
    connections = catalog.connections
    for entry in catalog.of_kind("ingest_job"):
        stmt: CreateIngestJob = entry.statement  # type: ignore[assignment]
        conn = connections.get(stmt.source.connection)
        if conn is None:
            raise CatalogError(
                f"job {stmt.name!r} reads from unknown connection {stmt.source.connection!r}",
                pos=stmt.pos,
                hint=_suggest(stmt.source.connection, list(connections))
                or "declare it with CREATE ... CONNECTION",
            )
        if conn.kind not in SUPPORTED_SOURCES:
            raise CatalogError(
                f"job {stmt.name!r}: {conn.kind} connections cannot be ingested by this version of Headwater "
                f"(supported: {', '.join(SUPPORTED_SOURCES)})",
                pos=stmt.pos,
            )
        if stmt.target is None:
            raise CatalogError(f"job {stmt.name!r}: INTO SCHEMA is only for CDC sources", pos=stmt.pos)
        if conn.kind == "FILES" and "PATH" not in conn.options:
            raise CatalogError(f"connection {conn.name!r} needs PATH = '<folder>'", pos=conn.pos)
        declared = catalog.tables.get(str(stmt.target))
        problem = check_source(stmt, conn, [c.name for c in declared.columns] if declared else [])
        if problem is not None:
            raise CatalogError(problem[0], pos=stmt.pos, hint=problem[1])
    for entry in catalog.of_kind("transform_job"):
        tstmt: CreateTransformJob = entry.statement  # type: ignore[assignment]
        if tstmt.options.run_interval.seconds <= 0:
            raise CatalogError(f"job {tstmt.name!r}: RUN_INTERVAL must be at least 1 SECOND", pos=tstmt.pos)
        if tstmt.sync and _window_filters(tstmt.body, "$commit_time"):
            raise CatalogError(
                f"SYNC job {tstmt.name!r} filters its window on $commit_time, but the windows of a "
                "SYNC job are of event time",
                pos=tstmt.pos,
                hint="write `$event_time BETWEEN run_start_time() AND run_end_time()`, or remove SYNC "
                "to window on commit time (see docs/jobs-and-windows.md)",
            )
    known = catalog.known_tables() | existing
    system_ok = {"system"}
    for entry in catalog.of_kind("transform_job", "materialized_view"):
        for table in entry.reads:
            if table in known or table.schema in system_ok:
                continue
            raise CatalogError(
                f"{entry.kind.replace('_', ' ')} {entry.name!r} reads {table}, which no statement creates or writes",
                pos=entry.statement.pos,
                hint=_suggest(str(table), sorted(str(t) for t in known)) or "declare it with CREATE TABLE",
            )


def _window_filters(body: exp.Expression, column: str) -> bool:
    """Whether ``body`` has ``<column> BETWEEN run_start_time() AND run_end_time()``."""
    for between in body.find_all(exp.Between):
        high = between.args.get("high")
        if (
            isinstance(high, exp.Anonymous)
            and str(high.this).lower() == "run_end_time"
            and isinstance(between.this, exp.Column)
            and between.this.name == column
        ):
            return True
    return False
