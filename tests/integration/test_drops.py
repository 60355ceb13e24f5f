"""Removing a statement never deletes data without confirmation (`run --allow-drop`)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater import Project
from headwater.cli.app import app
from headwater.errors import UserError

CONNECTION = "CREATE FILES CONNECTION landing PATH = 'data/landing';\n"
TABLE = "CREATE TABLE bronze.users (user_id BIGINT) COMMENT = 'people';\n"
JOB = "CREATE JOB load_users AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.users;\n"


def write(folder: Path, *statements: str) -> None:
    (folder / "project.sql").write_text("".join(statements))


def land(folder: Path, name: str, ids: range) -> None:
    landing = folder / "data" / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    (landing / name).write_text("".join(f'{{"user_id": {i}}}\n' for i in ids))


def users(project: Project) -> int:
    return int(project.query("SELECT count(*) FROM bronze.users").fetchall()[0][0])


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write(tmp_path, CONNECTION, TABLE, JOB)
    land(tmp_path, "a.jsonl", range(3))
    project = Project(tmp_path)
    assert project.run(once=True).ok
    assert users(project) == 3
    return project


def test_removing_create_table_of_a_written_table_keeps_it(project: Project) -> None:
    write(project.path, CONNECTION, JOB)
    plan = project.plan()
    assert plan.kept == ["bronze.users"]
    assert not plan.destructive
    assert "= table bronze.users kept: a job or view still uses it" in plan.explain()
    land(project.path, "b.jsonl", range(3, 5))
    assert project.run(once=True).ok
    assert users(project) == 5  # nothing dropped, and the job goes on from its position
    write(project.path, CONNECTION, TABLE, JOB)  # restoring the statement finds the rows there
    assert project.run(once=True).ok
    assert users(project) == 5


def test_dropping_a_table_needs_allow_drop(project: Project) -> None:
    write(project.path, CONNECTION)
    plan = project.plan()
    assert plan.explain() == [
        "- ingest job load_users (deletes its source positions and windows: needs `run --allow-drop`)",
        "- table bronze.users (deletes its rows: needs `run --allow-drop`)",
    ]
    with pytest.raises(UserError) as info:
        project.run(once=True)
    assert "table bronze.users" in info.value.message and "ingest job load_users" in info.value.message
    assert "--allow-drop" in (info.value.hint or "")
    assert users(project) == 3  # refused before changing anything
    assert [c.name for c in project.plan().destructive] == ["load_users", "bronze.users"]

    assert project.run(once=True, allow_drop=True).ok
    assert project.plan().empty
    assert not project.query("SELECT * FROM duckdb_tables() WHERE table_name = 'users'").fetchall()


def test_a_removed_job_keeps_its_positions_without_allow_drop(project: Project) -> None:
    write(project.path, CONNECTION, TABLE)
    with pytest.raises(UserError, match="ingest job load_users"):
        project.run(once=True)
    write(project.path, CONNECTION, TABLE, JOB)  # put back: it reads nothing twice
    assert project.run(once=True).ok
    assert users(project) == 3


def test_cli_plan_and_run_refuse_drops(project: Project) -> None:
    write(project.path, CONNECTION)
    runner = CliRunner()
    planned = runner.invoke(app, ["plan", "-p", str(project.path)])
    assert planned.exit_code == 0, planned.output
    assert "- table bronze.users (deletes its rows: needs `run --allow-drop`)" in planned.stdout
    refused = runner.invoke(app, ["run", "--once", "-p", str(project.path)])
    assert refused.exit_code == 2, refused.output
    assert "table bronze.users" in refused.stderr and "--allow-drop" in refused.stderr
    assert "Traceback" not in refused.output
    assert users(project) == 3
    done = runner.invoke(app, ["run", "--once", "--allow-drop", "-p", str(project.path)])
    assert done.exit_code == 0, done.output
    assert "- table bronze.users" in done.stderr


def _run_in_terminal(folder: Path, answer: str) -> tuple[int, str]:
    """`headwater run --once` with a terminal as its stdin, answering its prompt."""
    leader, follower = pty.openpty()
    run = subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", "--once", "-p", str(folder)],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while b"drop them?" not in seen and time.monotonic() < deadline and run.poll() is None:
        try:
            seen += os.read(leader, 4096)
        except OSError:
            break
    os.write(leader, answer.encode() + b"\n")
    code = run.wait(timeout=60)
    try:
        while chunk := os.read(leader, 4096):
            seen += chunk
    except OSError:
        pass
    os.close(leader)
    return code, seen.decode(errors="replace")


def test_run_in_a_terminal_asks_before_dropping(project: Project) -> None:
    write(project.path, CONNECTION)
    code, shown = _run_in_terminal(project.path, "n")
    assert code == 2, shown
    assert "run would drop ingest job load_users, table bronze.users" in shown and "drop them?" in shown
    assert users(project) == 3  # declined: nothing changed
    code, shown = _run_in_terminal(project.path, "y")
    assert code == 0, shown
    assert project.plan().empty
    assert not project.query("SELECT * FROM duckdb_tables() WHERE table_name = 'users'").fetchall()
