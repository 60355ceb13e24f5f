"""Windowed INSERT and MERGE jobs, materialized views, plans, through the API."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

import headwater as hw
from headwater.errors import UserError
from tests.conftest import write_jsonl

PIPELINE = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE TABLE bronze.orders;
CREATE JOB load_orders AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders;

CREATE JOB clean_orders RUN_INTERVAL = {interval} AS
INSERT INTO silver.orders
SELECT order_id, customer, amount FROM bronze.orders o
WHERE o.$commit_time BETWEEN run_start_time() AND run_end_time() AND amount > 0;

CREATE JOB revenue RUN_INTERVAL = {interval} AS
MERGE INTO gold.revenue t
USING (SELECT customer, sum(amount) AS total, count(*) AS n FROM silver.orders
       WHERE $commit_time BETWEEN run_start_time() AND run_end_time() GROUP BY customer) s
ON t.customer = s.customer
WHEN MATCHED THEN UPDATE SET total = t.total + s.total, n = t.n + s.n
WHEN NOT MATCHED THEN INSERT (customer, total, n) VALUES (s.customer, s.total, s.n);

CREATE MATERIALIZED VIEW gold.top AS
SELECT customer, total FROM gold.revenue ORDER BY total DESC, customer LIMIT 2;
"""


def orders(start: int, count: int) -> list[dict[str, object]]:
    return [
        {"order_id": i, "customer": f"c{i % 4}", "amount": (i % 5) * 10} for i in range(start, start + count)
    ]


def expected_revenue(rows: list[dict[str, object]]) -> dict[str, tuple[float, int]]:
    out: dict[str, tuple[float, int]] = {}
    for r in rows:
        if r["amount"] > 0:  # type: ignore[operator]
            total, n = out.get(str(r["customer"]), (0.0, 0))
            out[str(r["customer"])] = (total + float(r["amount"]), n + 1)  # type: ignore[arg-type]
    return out


def test_once_runs_every_layer_in_dependency_order(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(PIPELINE.format(interval="1 HOUR"))
    rows = orders(0, 200)
    write_jsonl(project.path / "landing/a.jsonl", rows)
    assert project.run(once=True).ok
    got = {
        r[0]: (r[1], r[2]) for r in project.query("SELECT customer, total, n FROM gold.revenue").fetchall()
    }
    assert got == expected_revenue(rows)
    # The view equals its query over the current data.
    assert (
        project.query("SELECT customer, total FROM gold.top ORDER BY total DESC, customer").fetchall()
        == project.query(
            "SELECT customer, total FROM gold.revenue ORDER BY total DESC, customer LIMIT 2"
        ).fetchall()
    )
    # More data later (in the same, already-run hour): it lands in the next window, not lost, not twice.
    more = orders(200, 100)
    write_jsonl(project.path / "landing/b.jsonl", more)
    assert project.run(once=True).ok
    got = {
        r[0]: (r[1], r[2]) for r in project.query("SELECT customer, total, n FROM gold.revenue").fetchall()
    }
    assert got == expected_revenue(rows + more)
    assert project.query("SELECT count(*), count(DISTINCT order_id) FROM silver.orders").fetchall() == [
        (240, 240)
    ]
    # Each window committed with its progress: windows never overlap. The open hour ran
    # provisionally the first time and was replaced, whole, by the second run.
    windows = project.query(
        "SELECT window_start, window_end FROM system.runs WHERE job = 'clean_orders' AND status <> 'replaced' "
        "ORDER BY window_start"
    ).fetchall()
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(windows))
    # $commit_time is the real time: nothing is stamped ahead of the clock.
    assert project.query("SELECT max($commit_time) <= now() FROM bronze.orders").fetchall() == [(True,)]
    top = project.query("SELECT customer FROM gold.top ORDER BY total DESC, customer").fetchall()
    assert (
        top
        == project.query("SELECT customer FROM gold.revenue ORDER BY total DESC, customer LIMIT 2").fetchall()
    )


def test_continuous_run_waits_for_a_window_to_close(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(PIPELINE.format(interval="1 HOUR"))
    write_jsonl(project.path / "landing/a.jsonl", orders(0, 10))
    assert project.run(once=False, max_passes=1).ok
    assert project.query("SELECT count(*) FROM bronze.orders").fetchall() == [(10,)]
    assert project.query("SELECT count(*) FROM system.runs WHERE job = 'clean_orders'").fetchall() == [(0,)]


def test_system_tables_describe_the_pipeline(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(PIPELINE.format(interval="1 MINUTE"))
    write_jsonl(project.path / "landing/a.jsonl", orders(0, 20))
    assert project.run(once=True).ok
    lineage = set(project.query("SELECT upstream, downstream, job FROM system.lineage").fetchall())
    assert lineage == {
        ("connection:landing", "bronze.orders", "load_orders"),
        ("bronze.orders", "silver.orders", "clean_orders"),
        ("silver.orders", "gold.revenue", "revenue"),
        ("gold.revenue", "gold.top", "gold.top"),
    }
    runs = project.query(
        "SELECT job, rows_read, rows_written, rows_dropped FROM system.runs ORDER BY run_id"
    ).fetchall()
    assert runs[0] == ("load_orders", 20, 20, 0)
    assert runs[1] == ("clean_orders", 16, 16, 0)
    jobs = dict(project.query("SELECT name, kind FROM system.jobs").fetchall())
    assert jobs["load_orders"] == "ingest" and jobs["revenue"] == "transform"
    status = {s["name"]: s for s in project.status()}
    assert status["clean_orders"]["rows_written"] == 16


def test_plan_shows_created_changed_and_dropped(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(PIPELINE.format(interval="1 MINUTE"))
    assert "+ ingest job load_orders" in project.plan().explain()
    write_jsonl(project.path / "landing/a.jsonl", orders(0, 5))
    assert project.run(once=True).ok
    assert project.plan().empty
    edited = PIPELINE.format(interval="5 MINUTES").replace(
        "CREATE MATERIALIZED VIEW gold.top AS\nSELECT customer, total FROM gold.revenue ORDER BY total DESC, customer LIMIT 2;",
        "",
    )
    (project.path / "pipeline.sql").write_text(edited)
    lines = project.plan().explain()
    assert "~ transform job clean_orders" in lines and "~ transform job revenue" in lines
    assert "- materialized view gold.top" in lines
    assert not any("load_orders" in line for line in lines)
    assert project.run(once=True).ok
    assert project.plan().empty
    tables = {
        r[0]
        for r in project.query("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'gold'").fetchall()
    }
    assert tables == {"revenue"}


def test_dependency_cycle_is_reported_with_its_path(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        """
        CREATE TABLE a.x; CREATE TABLE a.y;
        CREATE JOB x_to_y AS INSERT INTO a.y SELECT * FROM a.x WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
        CREATE JOB y_to_x AS INSERT INTO a.x SELECT * FROM a.y WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
        """
    )
    with pytest.raises(
        UserError, match=r"cycle: x_to_y \(pipeline\.sql:3:9\) -> y_to_x \(pipeline\.sql:4:9\) -> x_to_y"
    ):
        project.validate()


def test_unknown_table_and_connection_are_named(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        "CREATE TABLE bronze.orders;\nCREATE JOB j AS INSERT INTO silver.o SELECT * FROM bronze.order WHERE true;"
    )
    with pytest.raises(
        UserError, match=r"pipeline.sql:2:1: .*bronze.order.*\n.*did you mean 'bronze.orders'"
    ):
        project.validate()
    project = make_project("CREATE JOB j AS COPY FROM nowhere INTO bronze.x;")
    with pytest.raises(UserError, match="unknown connection 'nowhere'"):
        project.validate()


def test_pause_and_resume(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(PIPELINE.format(interval="1 MINUTE"))
    project.pause("load_orders")
    write_jsonl(project.path / "landing/a.jsonl", orders(0, 5))
    assert project.run(once=True).ok
    assert {s["name"]: s["status"] for s in project.status()}["load_orders"] == "paused"
    project.query("RESUME JOB load_orders")
    assert project.run(once=True).ok
    assert project.query("SELECT count(*) FROM bronze.orders").fetchall() == [(5,)]
