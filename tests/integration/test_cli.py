"""The real command line on real projects: CliRunner in process, and the installed script."""

from __future__ import annotations

import csv
import io
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.cli.app import app

HEADWATER = Path(sys.executable).parent / "headwater"
Invoke = Callable[..., "Run"]


class Run:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli() -> Invoke:
    runner = CliRunner()

    def invoke(*args: str | Path) -> Run:
        result = runner.invoke(app, [str(a) for a in args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def project(tmp_path: Path, cli: Invoke) -> Path:
    folder = tmp_path / "shop"
    made = cli("init", folder)
    assert made.exit_code == 0, made.output
    return folder


def script(
    *args: str | Path, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HEADWATER), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


# -- the whole loop --------------------------------------------------------------------------
def test_init_validate_plan_run_query_status(project: Path, cli: Invoke) -> None:
    assert {p.name for p in project.iterdir()} >= {"headwater.toml", "pipeline.sql", "data", ".gitignore"}

    checked = cli("validate", "-p", project)
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.strip() == "ok: 5 statements, 2 jobs, 3 tables"

    planned = cli("plan", "-p", project)
    assert planned.exit_code == 0, planned.output
    for line in ["+ connection landing", "+ table bronze.orders", "+ ingest job load_orders"]:
        assert line in planned.stdout
    assert "run order: load_orders → clean_orders → gold.revenue_by_customer" in planned.stdout
    assert "view gold.revenue_by_customer: incremental" in planned.stdout

    ran = cli("run", "-p", project, "--once")
    assert ran.exit_code == 0, ran.output
    assert "load_orders: committed 5 rows" in ran.stderr
    assert "done: 1 pass, 10 rows written" in ran.stderr
    assert ran.stdout == ""

    table = cli(
        "query", "-p", project, "SELECT customer, revenue FROM gold.revenue_by_customer ORDER BY customer"
    )
    assert table.exit_code == 0, table.output
    assert "customer" in table.stdout and "42.50" in table.stdout and "chen" in table.stdout
    assert "3 rows" in table.stderr

    as_json = cli(
        "query",
        "-p",
        project,
        "SELECT order_id, customer, amount, ordered_at, amount IS NULL AS missing FROM silver.orders ORDER BY order_id",
        "--format",
        "json",
    )
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout, parse_float=Decimal)
    assert len(rows) == 5
    assert rows[0] == {
        "order_id": 1,
        "customer": "ada",
        "amount": Decimal("12.50"),
        "ordered_at": "2026-01-05T09:00:00",
        "missing": False,
    }
    assert sum(r["amount"] for r in rows) == Decimal("152.84")

    as_csv = cli(
        "query", "-p", project, "SELECT * FROM gold.revenue_by_customer ORDER BY customer", "-f", "csv"
    )
    assert as_csv.exit_code == 0, as_csv.output
    records = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["customer"], r["orders"], r["revenue"]) for r in records] == [
        ("ada", "2", "42.50"),
        ("bob", "2", "10.35"),
        ("chen", "1", "99.99"),
    ]
    assert records[0]["$source"] == "view:gold.revenue_by_customer"

    status = cli("status", "-p", project, "--format", "json")
    assert status.exit_code == 0, status.output
    jobs = {row["name"]: row for row in json.loads(status.stdout)}
    assert set(jobs) == {"load_orders", "clean_orders", "gold.revenue_by_customer"}
    assert jobs["load_orders"]["rows_written"] == 5
    assert jobs["clean_orders"]["status"] == "idle"

    again = cli("plan", "-p", project)
    assert "no changes" in again.stdout


def test_query_json_is_one_document_of_typed_values(project: Path, cli: Invoke) -> None:
    sql = (
        "SELECT 1::BIGINT AS i, 2.5::DOUBLE AS f, 12345678901234567890.123456789::DECIMAL(38, 9) AS d, "
        "TIMESTAMPTZ '2026-01-05 09:00:00+00' AS ts, DATE '2026-01-05' AS day, NULL AS nothing, "
        "{'a': 1, 'b': [1, 2]} AS nested, 'x\"y' AS quoted"
    )
    out = cli("query", "-p", project, sql, "--format", "json")
    assert out.exit_code == 0, out.output
    [row] = json.loads(out.stdout, parse_float=Decimal)
    assert row["i"] == 1
    assert row["f"] == Decimal("2.5")
    assert row["d"] == Decimal("12345678901234567890.123456789")
    assert row["ts"].startswith("2026-01-05T09:00:00")
    assert row["day"] == "2026-01-05"
    assert row["nothing"] is None
    assert row["nested"] == {"a": 1, "b": [1, 2]}
    assert row["quoted"] == 'x"y'

    empty = cli("query", "-p", project, "SELECT 1 AS x WHERE false", "--format", "json")
    assert json.loads(empty.stdout) == []


def test_query_prints_what_the_python_api_answers(project: Path, cli: Invoke) -> None:
    """``headwater query`` reads rows without pyarrow where it can (``headwater.lake.rows``):
    what it prints must be what ``Project.query``'s Arrow answer renders to."""
    import headwater as hw
    from headwater.cli.render import to_csv, to_json

    assert cli("run", "--once", "-p", project).exit_code == 0
    queries = [
        "SELECT * FROM bronze.orders ORDER BY order_id",
        "SELECT * FROM system.runs ORDER BY run_id",
        "SELECT 170141183460469231731687303715884105727::HUGEINT AS h, 1::UHUGEINT AS u, "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::UUID AS id, "
        "TIMESTAMP_NS '2024-01-02 03:04:05.123456789' AS ns, "
        "TIMESTAMPTZ '1900-01-01 00:00:00+00' AS old, 'NaN'::DOUBLE AS nan, 1 AS a, 2 AS a",
    ]
    for sql in queries:
        answer = hw.Project(project).query(sql)
        json_out = cli("query", "-p", project, "-f", "json", sql)
        assert json_out.exit_code == 0, json_out.output
        assert json_out.stdout == to_json(answer.rows()) + "\n"
        csv_out = cli("query", "-p", project, "-f", "csv", sql)
        assert csv_out.stdout == to_csv(answer.columns, answer.fetchall())
    # Where Arrow's answer is not the value, DuckDB's text is printed (docs/cli.md)
    sql = "SELECT TIME '24:00:00' AS midnight, INTERVAL 90 MINUTE AS i, (2::UHUGEINT ** 127)::UHUGEINT AS u"
    out = cli("query", "-p", project, "-f", "csv", sql)
    assert out.stdout == "midnight,i,u\n24:00:00,01:30:00,170141183460469231731687303715884105728\n"


def test_run_once_with_a_failing_job_exits_1(project: Path, cli: Invoke) -> None:
    with open(project / "pipeline.sql", "a") as f:
        f.write(
            "\nCREATE JOB broken AS INSERT INTO silver.broken\n"
            "SELECT CAST(customer AS INTEGER) AS n FROM bronze.orders\n"
            "WHERE $commit_time BETWEEN run_start_time() AND run_end_time();\n"
        )
    ran = cli("run", "-p", project, "--once")
    assert ran.exit_code == 1, ran.output
    assert "broken failed" in ran.stderr
    assert "pipeline.sql:" in ran.stderr
    assert "Traceback" not in ran.output
    status = {r["name"]: r for r in json.loads(cli("status", "-p", project, "-f", "json").stdout)}
    assert status["broken"]["status"] == "failed"
    assert status["clean_orders"]["rows_written"] == 5


def test_pause_and_resume_show_in_status(project: Path, cli: Invoke) -> None:
    def state(job: str) -> str:
        rows = json.loads(cli("status", "-p", project, "--format", "json").stdout)
        return next(r["status"] for r in rows if r["name"] == job)

    assert state("load_orders") == "new"
    paused = cli("pause", "load_orders", "-p", project)
    assert paused.exit_code == 0, paused.output
    assert "paused load_orders" in paused.stdout
    assert state("load_orders") == "paused"

    ran = cli("run", "-p", project, "--once")
    assert ran.exit_code == 0, ran.output
    assert "load_orders: skipped" in ran.stderr
    assert state("load_orders") == "paused"

    resumed = cli("resume", "load_orders", "-p", project)
    assert resumed.exit_code == 0, resumed.output
    assert "resumed load_orders" in resumed.stdout
    cli("run", "-p", project, "--once")
    assert state("load_orders") == "idle"
    rows = json.loads(
        cli("query", "-p", project, "SELECT count(*) AS n FROM bronze.orders", "-f", "json").stdout
    )
    assert rows == [{"n": 5}]

    unknown = cli("pause", "no_such_job", "-p", project)
    assert unknown.exit_code == 2
    assert "no job named 'no_such_job'" in unknown.stderr


def test_resume_shows_in_status_before_the_next_run(project: Path, cli: Invoke) -> None:
    cli("pause", "load_orders", "-p", project)
    cli("run", "-p", project, "--once")
    cli("resume", "load_orders", "-p", project)
    rows = json.loads(cli("status", "-p", project, "--format", "json").stdout)
    assert next(r["status"] for r in rows if r["name"] == "load_orders") != "paused"


# -- user errors -----------------------------------------------------------------------------
def test_bad_sql_exits_2_with_its_place(project: Path, cli: Invoke) -> None:
    (project / "more.sql").write_text(
        "CREATE TABLE silver.ok;\n\nCREATE JOB oops AS COPY FROM INTO bronze.x;\n"
    )
    for command in ("validate", "plan", "run"):
        out = cli(command, "-p", project)
        assert out.exit_code == 2, out.output
        assert out.stderr.startswith("error: more.sql:3:"), out.stderr
        assert "Traceback" not in out.output
        assert out.stdout == ""


def test_missing_project_exits_2(tmp_path: Path, cli: Invoke) -> None:
    for command in (["validate"], ["status"], ["run", "--once"], ["query", "SELECT 1"]):
        out = cli(*command, "-p", tmp_path / "nowhere")
        assert out.exit_code == 2, out.output
        assert "does not exist" in out.stderr
        assert "hint: create it with `headwater init`" in out.stderr


def test_query_errors_exit_2(project: Path, cli: Invoke) -> None:
    incomplete = cli("query", "-p", project, "SELECT 1 +")
    assert incomplete.exit_code == 2
    assert "<sql>:1:" in incomplete.stderr
    missing = cli("query", "-p", project, "SELECT * FROM silver.nothing_here")
    assert missing.exit_code == 2
    assert "nothing_here" in missing.stderr
    assert "Traceback" not in missing.output


def test_init_refuses_to_overwrite(project: Path, cli: Invoke) -> None:
    before = (project / "pipeline.sql").read_text()
    again = cli("init", project)
    assert again.exit_code == 2
    assert "never overwrites" in again.stderr
    assert (project / "pipeline.sql").read_text() == before


def test_usage_errors_exit_2(project: Path, cli: Invoke) -> None:
    assert cli("query", "-p", project, "SELECT 1", "--format", "xml").exit_code == 2
    assert cli("frobnicate").exit_code == 2


# -- the installed script --------------------------------------------------------------------
def test_script_end_to_end(tmp_path: Path) -> None:
    assert script("--version").stdout.strip().startswith("headwater ")
    assert script("init", "p", cwd=tmp_path).returncode == 0
    ran = script("run", "--once", cwd=tmp_path / "p")
    assert ran.returncode == 0, ran.stderr
    out = script("query", "SELECT count(*) AS n FROM silver.orders", "--format", "json", cwd=tmp_path / "p")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"n": 5}]
    module = subprocess.run(
        [sys.executable, "-m", "headwater", "status", "-p", tmp_path / "p", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert module.returncode == 0, module.stderr
    assert {r["name"] for r in json.loads(module.stdout)} >= {"load_orders", "clean_orders"}


def test_script_bad_sql_has_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.sql").write_text("CREATE TABLE bronze.a;\nCREATE JOB x AS COPY FROM INTO bronze.a;\n")
    out = script("validate", "-p", tmp_path)
    assert out.returncode == 2
    assert "error: bad.sql:2:" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def _wait_for(proc: subprocess.Popen[str], text: str, timeout: float) -> str:
    """Read the process's stderr until ``text`` appears; returns what was read."""
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            raise AssertionError(f"{text!r} not seen; stderr so far:\n{seen}")
        ready, _, _ = select.select([proc.stderr], [], [], left)
        if ready:
            seen += os.read(proc.stderr.fileno(), 65536).decode()
    return seen


def test_second_run_is_refused_and_sigterm_stops_cleanly(project: Path) -> None:
    (project / "headwater.toml").write_text("[run]\npoll_interval_seconds = 0.2\n")
    first = subprocess.Popen(
        [str(HEADWATER), "run", "-p", str(project)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        seen = _wait_for(first, "pass 1 finished", timeout=120)
        second = script("run", "-p", project, "--once", timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"already running (pid {first.pid})" in second.stderr
        assert "Traceback" not in second.stderr
        alongside = script("status", "-p", project, "--format", "json", timeout=60)
        assert alongside.returncode == 0, alongside.stderr
        assert {r["name"] for r in json.loads(alongside.stdout)} >= {"load_orders", "clean_orders"}
        first.send_signal(signal.SIGTERM)
        _, rest = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, seen + rest
    assert "stopped cleanly" in rest
    assert "Traceback" not in seen + rest


def test_demo_prints_its_answers_and_is_repeatable(tmp_path: Path, cli: Invoke) -> None:
    import headwater.demo as demo

    first = cli("demo", tmp_path / "demo")
    assert first.exit_code == 0, first.output
    for title, _ in demo.ANSWERS:
        assert title in first.stdout
    assert "try next" in first.stdout
    assert f"headwater status -p {tmp_path / 'demo'}" in first.stdout
    assert "Traceback" not in first.output
    again = cli("demo", tmp_path / "demo")
    assert again.exit_code == 0, again.output
    assert again.stdout == first.stdout
