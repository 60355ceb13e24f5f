"""Applying a plan: bring the deployed pipeline (recorded in the lake) to the project's files."""

from __future__ import annotations

from headwater.catalog.model import Catalog
from headwater.dialect.nodes import CreateIngestJob, CreateTable
from headwater.lake import INTERNAL_SCHEMA, LAKE, SYSTEM_SCHEMA, Lake, qualified
from headwater.lake.tables import create_declared
from headwater.plan.plan import Change, Deployed, Plan
from headwater.runner.incremental import drop_state
from headwater.state import store

DEPLOYED = f"{LAKE}.{INTERNAL_SCHEMA}.deployed"
OVERRIDES = f"{LAKE}.{INTERNAL_SCHEMA}.job_overrides"


def load_deployed(lake: Lake) -> list[Deployed]:
    rows = lake.fetchall(f"SELECT kind, name, fingerprint, sql FROM {DEPLOYED} ORDER BY kind, name")
    return [Deployed(r[0], r[1], r[2], r[3]) for r in rows]


def apply_plan(lake: Lake, catalog: Catalog, plan: Plan) -> None:
    """One transaction: DDL for tables, state clean-up for dropped jobs, the deployed record
    and the lineage."""
    with lake.transaction():
        for change in plan.changes:
            _apply(lake, catalog, change)
        lake.execute(f"DELETE FROM {DEPLOYED}")
        now = store.utcnow()
        rows = [(e.kind, e.name, e.fingerprint, e.sql, now) for e in catalog.entries.values()]
        if rows:
            lake.con.executemany(
                f"INSERT INTO {DEPLOYED} (kind, name, fingerprint, sql, deployed_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        _write_lineage(lake, catalog)


def create_missing_tables(lake: Lake, catalog: Catalog) -> None:
    """Declared tables that the lake lacks (a lake deployed by a version that created a table
    declared without columns only with its first rows): created, so they exist from deploy on."""
    missing = [t for t in catalog.tables.values() if not lake.table_exists(t.table.schema, t.table.name)]
    if missing:
        with lake.transaction():
            for stmt in missing:
                create_declared(lake, stmt)


def _apply(lake: Lake, catalog: Catalog, change: Change) -> None:
    if change.kind == "table" and change.action in ("create", "update"):
        stmt = catalog.entries[("table", change.name)].statement
        assert isinstance(stmt, CreateTable)
        create_declared(lake, stmt)
    elif change.kind in ("table", "materialized_view") and change.action == "drop":
        schema, _, name = change.name.partition(".")
        lake.execute(f"DROP TABLE IF EXISTS {qualified(schema, name)}")
        lake.execute(f"DELETE FROM {LAKE}.{INTERNAL_SCHEMA}.clocks WHERE table_name = ?", [change.name])
        lake.execute(f"DELETE FROM {LAKE}.{INTERNAL_SCHEMA}.provisional WHERE target = ?", [change.name])
        if change.kind == "materialized_view":
            lake.execute(f"DELETE FROM {LAKE}.{INTERNAL_SCHEMA}.views WHERE view_name = ?", [change.name])
            drop_state(lake, change.name)
    elif change.kind in ("ingest_job", "transform_job") and change.action == "drop":
        store.clear_job(lake, change.name)
    elif change.kind in ("ingest_job", "transform_job") and change.action == "update":
        # The files changed the job: they win over its ALTER JOB ... SET options.
        lake.execute(f"DELETE FROM {OVERRIDES} WHERE job = ? AND action = 'set_option'", [change.name])
        if change.kind == "ingest_job":
            _reset_if_source_changed(lake, catalog, change)


def source_changed(stmt: CreateIngestJob, old_sql: str) -> bool:
    """Whether an edited ingestion job reads another connection or pattern than ``old_sql``."""
    marker = f"COPY FROM {stmt.source.connection}"
    return marker.lower() not in old_sql.lower() or bool(
        stmt.source.pattern and stmt.source.pattern not in old_sql
    )


def _reset_if_source_changed(lake: Lake, catalog: Catalog, change: Change) -> None:
    """A job that now reads another connection or pattern starts over from START_FROM;
    any other edit (options, expectations) keeps its position."""
    stmt = catalog.entries[("ingest_job", change.name)].statement
    assert isinstance(stmt, CreateIngestJob)
    if source_changed(stmt, change.old_sql or ""):
        store.clear_job(lake, change.name)


def _write_lineage(lake: Lake, catalog: Catalog) -> None:
    lake.execute(f"DELETE FROM {LAKE}.{SYSTEM_SCHEMA}.lineage")
    rows: list[tuple[str, str, str]] = []
    for entry in catalog.of_kind("ingest_job"):
        stmt = entry.statement
        assert isinstance(stmt, CreateIngestJob)
        rows.append((f"connection:{stmt.source.connection}", str(entry.writes), entry.name))
    for entry in catalog.of_kind("transform_job", "materialized_view"):
        for table in entry.reads:
            rows.append((str(table), str(entry.writes), entry.name))
    if rows:
        lake.con.executemany(f"INSERT INTO {LAKE}.{SYSTEM_SCHEMA}.lineage VALUES (?, ?, ?)", rows)
