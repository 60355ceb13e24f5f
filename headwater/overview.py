"""What the web console shows beyond ``status``: the pipeline as a graph, a job's history, a
table's details and the Prometheus metrics. Pure functions over the catalog and the answers
of read-only queries (``api.Project`` runs the queries; the web layer only renders)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pyarrow as pa

from headwater.catalog import Catalog
from headwater.dialect.nodes import CreateIngestJob

LAGGING_AFTER_S = 300.0  # a job whose data is older than this is shown as lagging
RATE_WINDOW_S = 300  # rows/s on the graph: rows written over the last 5 minutes


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def display_status(row: dict[str, Any]) -> str:
    """running, idle, paused, failed, new, or lagging (running or idle but behind)."""
    status = str(row["status"])
    lag = row.get("lag_seconds")
    if status in ("running", "idle") and lag is not None and lag > LAGGING_AFTER_S:
        return "lagging"
    return status


def layer_of(table: str) -> str:
    return table.split(".", 1)[0] if "." in table else "main"


def pipeline_graph(catalog: Catalog, status: list[dict[str, Any]], rates: dict[str, float]) -> dict[str, Any]:
    """Nodes and edges, left to right: connections -> ingestion jobs -> tables ->
    transformation jobs -> tables; a materialized view is one node (its table) fed by the
    tables it reads. Each job and view carries its status, rows/s and lag."""
    by_name = {row["name"]: row for row in status}
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []

    def table_node(name: str) -> str:
        key = f"table:{name}"
        nodes.setdefault(key, {"id": key, "kind": "table", "name": name, "layer": layer_of(name)})
        return key

    def job_fields(name: str) -> dict[str, Any]:
        row = by_name.get(name, {"status": "new", "lag_seconds": None, "rows_written": 0, "error": None})
        return {
            "status": display_status(row),
            "lag_seconds": row.get("lag_seconds"),
            "rows_per_s": round(rates.get(name, 0.0), 2),
            "rows_written": row.get("rows_written", 0),
            "error": row.get("error"),
        }

    for name, conn in catalog.connections.items():
        nodes[f"connection:{name}"] = {
            "id": f"connection:{name}",
            "kind": "connection",
            "name": name,
            "layer": "sources",
            "detail": conn.kind.lower(),
        }
    for table in catalog.tables:
        table_node(table)
    for entry in catalog.jobs:
        key = f"job:{entry.name}"
        target = str(entry.writes)
        nodes[key] = {
            "id": key,
            "kind": entry.kind.removesuffix("_job"),
            "name": entry.name,
            "layer": layer_of(target),
            **job_fields(entry.name),
        }
        stmt = entry.statement
        if isinstance(stmt, CreateIngestJob):
            edges.append({"source": f"connection:{stmt.source.connection}", "target": key})
        for read in entry.reads:
            edges.append({"source": table_node(str(read)), "target": key})
        edges.append({"source": key, "target": table_node(target), **_edge_fields(nodes[key])})
    for entry in catalog.views:
        name = str(entry.writes)
        key = table_node(name)
        nodes[key].update({"kind": "view", **job_fields(entry.name.removeprefix("main."))})
        for read in entry.reads:
            edges.append({"source": table_node(str(read)), "target": key})
    for i, edge in enumerate(edges):
        edge["id"] = f"e{i}"
    return {"nodes": list(nodes.values()), "edges": edges}


def _edge_fields(job: dict[str, Any]) -> dict[str, Any]:
    rate = job.get("rows_per_s") or 0.0
    lag = job.get("lag_seconds")
    label = f"{rate:,.1f} rows/s" if rate else ""
    if lag:
        label += f"{' · ' if label else ''}lag {human_seconds(lag)}"
    return {"label": label}


def human_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def runs_sql(job: str, limit: int) -> str:
    return (
        "SELECT run_id, status, window_start, window_end, started, finished, rows_read, rows_written, "
        "rows_deduplicated, rows_dropped, rows_quarantined, rows_late, error, "
        "epoch(finished) - epoch(started) AS seconds "
        f"FROM system.runs WHERE job = {sql_str(job)} ORDER BY run_id DESC LIMIT {int(limit)}"
    )


def expectations_sql(job: str) -> str:
    return (
        "SELECT e.run_id, e.expectation, e.action, e.violations, r.rows_read, epoch(r.finished) AS at "
        "FROM system.expectations e JOIN system.runs r ON r.job = e.job AND r.run_id = e.run_id "
        f"WHERE e.job = {sql_str(job)} ORDER BY e.run_id, e.expectation"
    )


def job_series(runs: list[dict[str, Any]], expectations: list[dict[str, Any]]) -> dict[str, Any]:
    """Chart data (uPlot's columns: x first): throughput and lag per run, and per expectation
    the rows that passed and the violations, per run, in time order."""
    ordered = sorted((r for r in runs if r["finished"] is not None), key=lambda r: r["run_id"])
    x = [r["finished"].timestamp() for r in ordered]
    rate = [
        round(r["rows_written"] / r["seconds"], 1) if r["seconds"] and r["rows_written"] is not None else 0
        for r in ordered
    ]
    lag: list[float | None] = [
        max(r["finished"].timestamp() - r["window_end"].timestamp(), 0.0) if r["window_end"] else None
        for r in ordered
    ]
    names = sorted({e["expectation"] for e in expectations})
    times = sorted({e["at"] for e in expectations if e["at"] is not None})
    checks: dict[str, Any] = {"x": times, "names": names, "passed": {}, "violations": {}}
    for name in names:
        found = {e["at"]: e for e in expectations if e["expectation"] == name}
        checks["violations"][name] = [found[t]["violations"] if t in found else None for t in times]
        checks["passed"][name] = [
            max((found[t]["rows_read"] or 0) - (found[t]["violations"] or 0), 0) if t in found else None
            for t in times
        ]
    return {"x": x, "rows_per_s": rate, "lag_seconds": lag, "expectations": checks}


def table_sqls(table: str) -> list[str]:
    """Columns, row count, files and bytes, a preview, and the snapshots that touched it."""
    schema, _, name = table.partition(".")
    meta = "__ducklake_metadata_lake"
    table_id = (
        f"(SELECT d.table_id FROM {meta}.ducklake_table d JOIN {meta}.ducklake_schema s "
        "ON s.schema_id = d.schema_id AND s.end_snapshot IS NULL "
        f"WHERE d.end_snapshot IS NULL AND s.schema_name = {sql_str(schema)} AND d.table_name = {sql_str(name)})"
    )
    return [
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = 'lake' "
        f"AND table_schema = {sql_str(schema)} AND table_name = {sql_str(name)} ORDER BY ordinal_position",
        f'SELECT count(*) AS n FROM "{schema}"."{name}"',
        "SELECT coalesce(sum(file_count), 0) AS files, "
        "coalesce(sum(file_size_bytes + delete_file_size_bytes), 0) AS bytes "
        f"FROM ducklake_table_info('lake') WHERE table_id = {table_id}",
        f'SELECT * FROM "{schema}"."{name}" LIMIT 50',
        "SELECT snapshot_id, snapshot_time, commit_message FROM ducklake_snapshots('lake') "
        f"WHERE list_contains(flatten(map_values(changes)), CAST({table_id} AS VARCHAR)) "
        f"OR list_contains(flatten(map_values(changes)), {sql_str(table)}) "
        "ORDER BY snapshot_id DESC LIMIT 50",
    ]


def cell(value: Any) -> str:
    """A value as text for a page (NULL shown as such)."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return str(value)


def text_rows(table: pa.Table) -> list[list[str]]:
    return [[cell(v) for v in row.values()] for row in table.to_pylist()]


METRICS_SQL = (
    "SELECT job, sum(rows_read) AS rows_read, sum(rows_written) AS rows_written, "
    "sum(rows_deduplicated) AS rows_deduplicated, sum(rows_dropped) AS rows_dropped, "
    "sum(rows_quarantined) AS rows_quarantined, sum(rows_late) AS rows_late, "
    "count(*) FILTER (WHERE status = 'failed') AS failures, count(*) AS runs, "
    "sum(epoch(finished) - epoch(started)) AS commit_seconds "
    "FROM system.runs GROUP BY job ORDER BY job"
)

OUTCOMES = ("read", "written", "deduplicated", "dropped", "quarantined", "late")


def prometheus(status: list[dict[str, Any]], totals: list[dict[str, Any]]) -> str:
    """Prometheus text exposition format 0.0.4."""
    by_job = {t["job"]: t for t in totals}
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    family("headwater_job_rows_total", "counter", "Rows per job and outcome, over all runs.")
    for row in status:
        t = by_job.get(row["name"], {})
        for outcome in OUTCOMES:
            value = t.get(f"rows_{outcome}") or 0
            out.append(f'headwater_job_rows_total{{job="{_label(row["name"])}",outcome="{outcome}"}} {value}')
    family("headwater_job_lag_seconds", "gauge", "How far behind its input the job is, in seconds.")
    for row in status:
        if row.get("lag_seconds") is not None:
            out.append(f'headwater_job_lag_seconds{{job="{_label(row["name"])}"}} {row["lag_seconds"]}')
    family("headwater_job_commit_seconds", "summary", "Duration of the job's runs (read to commit).")
    for row in status:
        t = by_job.get(row["name"], {})
        job = _label(row["name"])
        out.append(f'headwater_job_commit_seconds_sum{{job="{job}"}} {t.get("commit_seconds") or 0}')
        out.append(f'headwater_job_commit_seconds_count{{job="{job}"}} {t.get("runs") or 0}')
    family("headwater_job_failures_total", "counter", "Runs of the job that failed.")
    for row in status:
        out.append(
            f'headwater_job_failures_total{{job="{_label(row["name"])}"}} {by_job.get(row["name"], {}).get("failures") or 0}'
        )
    family("headwater_job_up", "gauge", "1 when the job is running or idle, 0 when paused, failed or new.")
    for row in status:
        up = 1 if row["status"] in ("running", "idle") else 0
        out.append(f'headwater_job_up{{job="{_label(row["name"])}",status="{row["status"]}"}} {up}')
    return "\n".join(out) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
