"""A failing job blocks only what depends on it; transient errors are tried again with backoff."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from headwater import Project
from headwater.cli.app import app

PIPELINE = """
CREATE FILES CONNECTION landing PATH = 'data/landing';
CREATE JOB load_orders AS COPY FROM landing PATTERN = 'orders/*.jsonl' INTO bronze.orders;
CREATE JOB load_users AS COPY FROM landing PATTERN = 'users/*.jsonl' INTO bronze.users;
CREATE JOB broken RUN_INTERVAL = 1 SECOND AS
INSERT INTO silver.orders SELECT id, CAST(note AS INTEGER) AS n FROM bronze.orders
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
CREATE JOB after_broken RUN_INTERVAL = 1 SECOND AS
INSERT INTO gold.orders SELECT id FROM silver.orders
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
CREATE MATERIALIZED VIEW gold.order_count AS SELECT count(*) AS n FROM silver.orders;
CREATE JOB users_silver RUN_INTERVAL = 1 SECOND AS
INSERT INTO silver.users SELECT id FROM bronze.users
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
"""

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def land(folder: Path, name: str, rows: list[dict[str, Any]]) -> None:
    path = folder / "data" / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def status(folder: Path) -> dict[str, dict[str, Any]]:
    result = cli("status", "-p", str(folder), "--format", "json")
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.stdout)}


def test_a_failing_job_blocks_only_what_depends_on_it(tmp_path: Path) -> None:
    (tmp_path / "project.sql").write_text(PIPELINE)
    land(tmp_path, "orders/a.jsonl", [{"id": 1, "note": "not a number"}])
    land(tmp_path, "users/a.jsonl", [{"id": 1}, {"id": 2}])
    result = cli("run", "-p", str(tmp_path), "--once")
    assert result.exit_code == 1  # a job failed
    assert "broken" in result.stderr and "Could not convert string" in result.stderr
    jobs = status(tmp_path)
    assert jobs["broken"]["status"] == "failed"
    assert "Could not convert string" in jobs["broken"]["error"]
    assert jobs["after_broken"]["status"] == "blocked"
    assert jobs["after_broken"]["error"] == "blocked by broken: waits until broken succeeds"
    assert jobs["gold.order_count"]["status"] == "blocked"
    # Everything else flows: the unrelated job committed its window.
    assert jobs["users_silver"]["status"] in ("idle", "running") and jobs["users_silver"]["rows_written"] == 2
    assert jobs["load_orders"]["rows_written"] == 1

    plan = cli("plan", "-p", str(tmp_path))
    assert plan.exit_code == 0, plan.output
    assert "! transform job broken failed: job broken (project.sql:5:1)" in plan.stdout
    assert "! transform job after_broken blocked by broken: waits until broken succeeds" in plan.stdout
    assert "! materialized view gold.order_count blocked by broken" in plan.stdout

    # New users keep flowing while broken stays failed.
    land(tmp_path, "users/b.jsonl", [{"id": 3}])
    assert cli("run", "-p", str(tmp_path), "--once").exit_code == 1
    assert status(tmp_path)["users_silver"]["rows_written"] == 3

    # Fixed: it runs, and what waited for it runs too.
    (tmp_path / "project.sql").write_text(PIPELINE.replace("CAST(note AS INTEGER)", "length(note)"))
    result = cli("run", "-p", str(tmp_path), "--once")
    assert result.exit_code == 0, result.output
    jobs = status(tmp_path)
    assert {jobs[j]["status"] for j in ("broken", "after_broken", "gold.order_count")} <= {"idle", "running"}
    assert jobs["after_broken"]["error"] is None
    assert "!" not in cli("plan", "-p", str(tmp_path)).stdout


def test_an_io_error_of_the_lake_is_tried_again_with_backoff(tmp_path: Path) -> None:
    """The lake's data folder for a table cannot be written for a while (a real ENOTDIR from
    the file system); the job is tried again, 0.5, 1, 2 s apart, and commits once it clears."""
    (tmp_path / "project.sql").write_text(PIPELINE)
    land(tmp_path, "users/a.jsonl", [{"id": i} for i in range(300)])  # more than is inlined
    assert cli("run", "-p", str(tmp_path), "--once").exit_code == 0  # (broken waits for its first rows)
    data = tmp_path / ".headwater" / "data" / "bronze"
    aside = tmp_path / "bronze-aside"
    shutil.move(data, aside)
    data.write_text("in the way")  # the table's folder cannot be created or written
    land(tmp_path, "users/b.jsonl", [{"id": i} for i in range(300, 600)])

    started = time.monotonic()
    run = subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", "-p", str(tmp_path), "--once"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.stderr is not None
    seen = []
    for line in run.stderr:  # as soon as the first try failed, the folder comes back
        seen.append(line)
        if "trying again in" in line:
            data.unlink()
            shutil.move(aside, data)
            break
    seen.extend(run.stderr)
    assert run.wait(timeout=60) == 0, "".join(seen)
    output = "".join(seen)
    assert "load_users: job load_users: cannot write" in output
    assert "(trying again in 0.5 s)" in output
    jobs = status(tmp_path)
    assert jobs["load_users"]["status"] in ("idle", "running"), jobs["load_users"]
    assert jobs["load_users"]["rows_written"] == 600
    assert time.monotonic() - started < 10


def test_an_io_error_that_does_not_clear_fails_the_job(tmp_path: Path) -> None:
    (tmp_path / "project.sql").write_text(PIPELINE)
    land(tmp_path, "users/a.jsonl", [{"id": i} for i in range(300)])
    data = tmp_path / ".headwater" / "data"
    data.mkdir(parents=True)
    (data / "bronze").write_text("in the way")
    result = cli("run", "-p", str(tmp_path), "--once")
    assert result.exit_code == 1
    for delay in ("0.5", "1", "2", "4"):
        assert f"(trying again in {delay} s)" in result.stderr
    jobs = status(tmp_path)
    assert jobs["load_users"]["status"] == "failed"
    assert "cannot write" in jobs["load_users"]["error"]
    assert jobs["users_silver"]["status"] == "blocked"


def test_the_continuous_run_does_not_wait_for_a_job_being_retried(tmp_path: Path) -> None:
    """Without --once a transient failure is not waited for: the job is skipped until its next
    try is due (status retrying), the jobs that do not depend on it keep committing."""
    (tmp_path / "project.sql").write_text(PIPELINE)
    (tmp_path / "headwater.toml").write_text("[run]\npoll_interval_seconds = 0.1\n")
    land(tmp_path, "users/a.jsonl", [{"id": i} for i in range(300)])
    land(tmp_path, "orders/a.jsonl", [{"id": 1, "note": "7"}])
    data = tmp_path / ".headwater" / "data"
    (data / "bronze").mkdir(parents=True)
    (data / "bronze" / "users").write_text("in the way")  # only load_users cannot write
    result = Project(tmp_path).run(max_passes=3)
    assert not result.failed_jobs
    jobs = status(tmp_path)
    # (tried in place, as --once does, it would have used up its tries and be failed)
    assert jobs["load_users"]["status"] == "retrying"
    assert "cannot write" in jobs["load_users"]["error"]
    assert jobs["users_silver"]["status"] == "blocked"
    assert jobs["load_orders"]["rows_written"] == 1
