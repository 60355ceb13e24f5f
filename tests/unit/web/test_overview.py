"""The console's pure parts: the graph of a catalog, statuses, chart series, Prometheus text,
SQL highlighting and the Host check."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from headwater.catalog import build_catalog
from headwater.dialect import parse
from headwater.overview import display_status, job_series, pipeline_graph, prometheus
from headwater.web.auth import allowed_hosts, is_loopback
from headwater.web.highlight import highlight_sql

PIPELINE = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE TABLE bronze.orders (id BIGINT, amount DOUBLE);
CREATE JOB load_orders AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders;
CREATE JOB clean RUN_INTERVAL = 1 MINUTE AS INSERT INTO silver.orders
SELECT id, amount FROM bronze.orders WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
CREATE MATERIALIZED VIEW gold.total AS SELECT sum(amount) AS total FROM silver.orders;
"""


def row(name: str, status: str, lag: float | None = 0.0) -> dict[str, Any]:
    return {"name": name, "status": status, "lag_seconds": lag, "rows_written": 10, "error": None}


def test_the_graph_links_connection_job_table_job_table_view() -> None:
    catalog = build_catalog(parse(PIPELINE))
    status = [row("load_orders", "running"), row("clean", "idle", 900.0), row("gold.total", "paused")]
    graph = pipeline_graph(catalog, status, {"load_orders": 12.5})
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert edges == {
        ("connection:landing", "job:load_orders"),
        ("job:load_orders", "table:bronze.orders"),
        ("table:bronze.orders", "job:clean"),
        ("job:clean", "table:silver.orders"),
        ("table:silver.orders", "table:gold.total"),
    }
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["job:load_orders"]["status"] == "running" and nodes["job:load_orders"]["rows_per_s"] == 12.5
    assert nodes["job:clean"]["status"] == "lagging"  # 900 s behind
    assert nodes["table:gold.total"]["kind"] == "view" and nodes["table:gold.total"]["status"] == "paused"
    assert {n["layer"] for n in graph["nodes"]} == {"sources", "bronze", "silver", "gold"}


def test_lagging_only_for_running_or_idle_jobs_past_the_threshold() -> None:
    assert display_status(row("a", "running", 301.0)) == "lagging"
    assert display_status(row("a", "running", 300.0)) == "running"
    assert display_status(row("a", "paused", 9999.0)) == "paused"
    assert display_status(row("a", "idle", None)) == "idle"


def test_chart_series_in_run_order_with_expectations_aligned() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    runs = [
        {"run_id": 2, "finished": t0 + timedelta(seconds=70), "seconds": 2.0, "rows_written": 50,
         "window_end": t0 + timedelta(seconds=60)},
        {"run_id": 1, "finished": t0 + timedelta(seconds=10), "seconds": 0.5, "rows_written": 100,
         "window_end": None},
    ]  # fmt: skip
    at1, at2 = runs[1]["finished"].timestamp(), runs[0]["finished"].timestamp()
    checks = [
        {"expectation": "positive", "at": at1, "rows_read": 100, "violations": 3},
        {"expectation": "positive", "at": at2, "rows_read": 60, "violations": 0},
        {"expectation": "known", "at": at2, "rows_read": 60, "violations": 7},
    ]
    series = job_series(runs, checks)
    assert series["x"] == [at1, at2]
    assert series["rows_per_s"] == [200.0, 25.0]
    assert series["lag_seconds"] == [None, 10.0]
    e = series["expectations"]
    assert e["names"] == ["known", "positive"] and e["x"] == [at1, at2]
    assert e["violations"] == {"known": [None, 7], "positive": [3, 0]}
    assert e["passed"] == {"known": [None, 53], "positive": [97, 60]}


def test_prometheus_text_format() -> None:
    status = [row('odd"name', "failed", None), row("ok", "idle", 2.5)]
    totals = [{"job": "ok", "rows_read": 5, "rows_written": 4, "rows_dropped": 1, "failures": 0, "runs": 2,
               "commit_seconds": 0.75}]  # fmt: skip
    text = prometheus(status, totals)
    sample = re.compile(r'^[a-z_]+\{([a-z]+="(?:[^"\\]|\\.)*",?)+\} [0-9.]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    assert 'headwater_job_rows_total{job="ok",outcome="dropped"} 1' in text
    assert 'headwater_job_rows_total{job="odd\\"name",outcome="read"} 0' in text
    assert 'headwater_job_commit_seconds_sum{job="ok"} 0.75' in text
    assert 'headwater_job_lag_seconds{job="ok"} 2.5' in text and 'lag_seconds{job="odd' not in text
    assert 'headwater_job_up{job="odd\\"name",status="failed"} 0' in text


@given(st.text(max_size=200))
def test_highlighting_keeps_the_text_and_escapes_it(sql: str) -> None:
    html = str(highlight_sql(sql))
    assert "<" not in re.sub(r'</?span( class="sql-[a-z]+")?>', "", html)
    assert unescape(re.sub(r"</?span[^>]*>", "", html)) == sql


def test_highlighting_marks_keywords_strings_and_system_columns() -> None:
    html = str(highlight_sql("SELECT $source FROM t WHERE a = 'x' -- note"))
    assert '<span class="sql-keyword">SELECT</span>' in html
    assert '<span class="sql-column">$source</span>' in html
    assert '<span class="sql-string">&#x27;x&#x27;</span>' in html
    assert '<span class="sql-comment">-- note</span>' in html


def test_hosts_the_console_answers_to() -> None:
    assert allowed_hosts("127.0.0.1", 8765) >= {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"}
    assert "rebound.example:8765" not in allowed_hosts("127.0.0.1", 8765)
    assert "127.0.0.1:80" not in allowed_hosts("127.0.0.1", 8765)
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "example.com"))
