"""Interactive job control through `headwater query`: ALTER JOB ... SET and DROP, against the
deployed pipeline, never contradicting the project's files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headwater.cli.app import app

CONNECTION = "CREATE FILES CONNECTION landing PATH = 'data/landing';\n"
LOAD = "CREATE JOB load_orders AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders;\n"
CLEAN = (
    "CREATE JOB clean RUN_INTERVAL = 1 HOUR AS INSERT INTO silver.orders SELECT id FROM bronze.orders "
    "WHERE $commit_time BETWEEN run_start_time() AND run_end_time();\n"
)
VIEW = "CREATE MATERIALIZED VIEW gold.n AS SELECT count(*) AS n FROM silver.orders;\n"

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def query(folder: Path, sql: str, *flags: str) -> Any:
    return cli("query", "-p", str(folder), "--format", "json", *flags, sql)


def rows(folder: Path, sql: str) -> list[dict[str, Any]]:
    result = query(folder, sql)
    assert result.exit_code == 0, result.output
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project.sql").write_text(CONNECTION + LOAD + CLEAN + VIEW)
    landing = tmp_path / "data" / "landing"
    landing.mkdir(parents=True)
    (landing / "a.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
    assert cli("run", "-p", str(tmp_path), "--once").exit_code == 0
    return tmp_path


def test_alter_job_set_overrides_an_option_until_the_file_changes(project: Path) -> None:
    done = query(project, "ALTER JOB clean SET RUN_INTERVAL = 1 DAY")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == [{"job": "clean", "option": "RUN_INTERVAL", "value": "1 DAY"}]
    plan = cli("plan", "-p", str(project)).stdout
    assert "* job clean runs with RUN_INTERVAL = 1 DAY (ALTER JOB ... SET; not in its file)" in plan
    (project / "data" / "landing" / "b.jsonl").write_text('{"id": 3}\n')
    assert cli("run", "-p", str(project), "--once").exit_code == 0
    windows = rows(
        project,
        "SELECT DISTINCT epoch(window_end) - epoch(window_start) AS w FROM system.runs WHERE job = 'clean'",
    )
    assert {r["w"] for r in windows} >= {86400}  # the new window used the option set

    # Wrong option for the kind of job, unknown job: clear errors, nothing recorded.
    wrong = query(project, "ALTER JOB clean SET COMMIT_INTERVAL = 1 SECOND")
    assert wrong.exit_code == 2 and "COMMIT_INTERVAL is not an option of transform job clean" in wrong.stderr
    assert query(project, "ALTER JOB nope SET RUN_INTERVAL = 1 DAY").exit_code == 2

    # Editing the job in the files: the files win again, and plan says so first.
    sql = project / "project.sql"
    sql.write_text(sql.read_text().replace("RUN_INTERVAL = 1 HOUR", "RUN_INTERVAL = 2 HOURS"))
    plan = cli("plan", "-p", str(project)).stdout
    assert "its ALTER JOB ... SET options (RUN_INTERVAL = 1 DAY) give way to the file" in plan
    assert cli("run", "-p", str(project), "--once").exit_code == 0
    assert rows(project, "SELECT count(*) AS n FROM headwater.job_overrides") == [{"n": 0}]
    assert "runs with" not in cli("plan", "-p", str(project)).stdout


def test_drop_refuses_what_the_files_still_declare_naming_what_depends_on_it(project: Path) -> None:
    table = query(project, "DROP TABLE silver.orders", "--allow-writes")
    assert table.exit_code == 2
    assert (
        "cannot be dropped: materialized view gold.n (project.sql:4:1), transform job clean (project.sql:3:1) "
        "still use it" in table.stderr
    )
    job = query(project, "DROP JOB clean", "--allow-writes")
    assert job.exit_code == 2
    assert "job clean is declared at project.sql:3:1" in job.stderr and "source of truth" in job.stderr
    connection = query(project, "DROP CONNECTION landing")
    assert (
        connection.exit_code == 2
        and "ingest job load_orders (project.sql:2:1) still uses it" in connection.stderr
    )
    view = query(project, "DROP MATERIALIZED VIEW gold.n", "--allow-writes")
    assert view.exit_code == 2 and "materialized view gold.n is declared at project.sql:4:1" in view.stderr
    as_table = query(project, "DROP TABLE gold.n", "--allow-writes")
    assert (
        as_table.exit_code == 2
        and "materialized view gold.n is declared at project.sql:4:1" in as_table.stderr
    )
    assert "traceback" not in (table.output + job.output + connection.output + view.output).lower()
    assert rows(project, "SELECT count(*) AS n FROM silver.orders") == [{"n": 2}]  # nothing changed


def test_drop_of_what_was_removed_from_the_files_applies_now(project: Path) -> None:
    (project / "project.sql").write_text(CONNECTION + LOAD)  # clean and the view removed
    plan = cli("plan", "-p", str(project)).stdout
    assert "- transform job clean" in plan and "- materialized view gold.n" in plan
    refused = query(project, "DROP JOB clean")
    assert refused.exit_code == 2 and "--allow-writes" in refused.stderr and "positions" in refused.stderr
    assert query(project, "DROP JOB clean", "--allow-writes").exit_code == 0
    assert query(project, "DROP MATERIALIZED VIEW gold.n", "--allow-writes").exit_code == 0
    assert query(project, "DROP TABLE silver.orders", "--allow-writes").exit_code == 0
    plan = cli("plan", "-p", str(project)).stdout
    assert "no changes" in plan  # nothing left for `run --allow-drop` to do
    assert rows(project, "SELECT count(*) AS n FROM system.jobs WHERE name = 'clean'") == [{"n": 0}]
    gone = query(project, "SELECT * FROM gold.n")
    assert gone.exit_code == 2
    again = query(project, "DROP JOB clean", "--allow-writes")
    assert again.exit_code == 2 and "no job named clean" in again.stderr
    assert cli("run", "-p", str(project), "--once").exit_code == 0
