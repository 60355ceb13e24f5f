"""`headwater replay JOB --from TS [--to TS]`: a job's windows run again with its current SQL,
their old output replaced in one transaction, and what depends on it follows."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from duckdb_extensions import import_extension
from typer.testing import CliRunner

from headwater.cli.app import app

PIPELINE = """
CREATE FILES CONNECTION landing PATH = 'data/landing';
CREATE JOB load_orders AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders;
CREATE JOB clean RUN_INTERVAL = 1 SECOND AS
INSERT INTO silver.orders SELECT id, {amount} AS amount FROM bronze.orders
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
CREATE JOB totals RUN_INTERVAL = 1 SECOND AS
INSERT INTO gold.totals SELECT count(*) AS n, sum(amount) AS total FROM silver.orders
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
CREATE MATERIALIZED VIEW gold.everything AS SELECT count(*) AS n, sum(amount) AS total FROM silver.orders;
"""

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def query(folder: Path, sql: str) -> list[dict[str, Any]]:
    result = cli("query", "-p", str(folder), "--format", "json", sql)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def land(folder: Path, name: str, ids: range) -> None:
    landing = folder / "data" / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    (landing / name).write_text("".join(f'{{"id": {i}, "amount": {i}}}\n' for i in ids))


def run_once(folder: Path) -> None:
    result = cli("run", "-p", str(folder), "--once")
    assert result.exit_code == 0, result.output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Three batches, each in its own 1-second window, every window final."""
    (tmp_path / "project.sql").write_text(PIPELINE.format(amount="amount"))
    for n, ids in enumerate((range(0, 3), range(3, 5), range(5, 9))):
        land(tmp_path, f"{n}.jsonl", ids)
        run_once(tmp_path)
        time.sleep(1.1)
    run_once(tmp_path)  # every window closed: they run for good
    assert query(tmp_path, "SELECT count(*) AS n FROM system.runs WHERE status = 'provisional'") == [{"n": 0}]
    return tmp_path


def windows(folder: Path, job: str) -> list[str]:
    rows = query(
        folder,
        f"SELECT window_start FROM system.runs WHERE job = '{job}' AND status = 'succeeded' ORDER BY 1",
    )
    return [r["window_start"] for r in rows]


def test_replay_rewrites_history_with_the_new_sql_and_downstream_follows(project: Path) -> None:
    clean = windows(project, "clean")
    assert len(clean) == 3
    (project / "project.sql").write_text(PIPELINE.format(amount="amount * 10"))
    plan = cli("plan", "-p", str(project))
    assert plan.exit_code == 0, plan.output
    assert "~ transform job clean" in plan.stdout
    assert "`headwater replay clean --from" in plan.stdout  # history is rewritten only on request
    run_once(project)  # new SQL, but no new windows: nothing is rewritten by `run`
    assert query(project, "SELECT sum(amount) AS s FROM silver.orders") == [{"s": 36}]

    # Replay from the second window on: the first keeps its output.
    last = query(project, "SELECT max(run_id) AS r FROM system.runs")[0]["r"]
    result = cli("replay", "clean", "--from", clean[1], "-p", str(project))
    assert result.exit_code == 0, result.output
    assert "clean" in result.stdout and "totals" in result.stdout
    rows = query(project, "SELECT id, amount FROM silver.orders ORDER BY id")
    assert [r["id"] for r in rows] == list(range(9))  # nothing lost, nothing twice
    assert [r["amount"] for r in rows] == [0, 1, 2] + [i * 10 for i in range(3, 9)]
    assert windows(project, "clean") == clean  # the same windows, the last two run again
    again = query(
        project,
        f"SELECT count(*) AS n FROM system.runs WHERE job = 'clean' AND status = 'succeeded' AND run_id > {last}",
    )
    assert again == [{"n": 2}]
    # Downstream: totals counts every row once, with the new amounts; the view agrees.
    expect = {"n": 9, "total": 3 + 10 * sum(range(3, 9))}
    totals = query(project, "SELECT sum(n) AS n, sum(total) AS total FROM gold.totals")
    assert totals == [expect]
    assert query(project, "SELECT n, total FROM gold.everything") == [expect]


def test_replay_to_a_time_keeps_the_windows_after_it(project: Path) -> None:
    clean = windows(project, "clean")
    (project / "project.sql").write_text(PIPELINE.format(amount="amount * 10"))
    result = cli("replay", "clean", "--from", clean[0], "--to", clean[1], "-p", str(project))
    assert result.exit_code == 0, result.output
    rows = query(project, "SELECT id, amount FROM silver.orders ORDER BY id")
    assert [r["amount"] for r in rows] == [0, 10, 20, *range(3, 9)]


def test_replay_replaces_the_output_in_one_commit(project: Path) -> None:
    """No snapshot of the lake shows the replayed windows' rows both old and new, or neither."""
    clean = windows(project, "clean")
    (project / "project.sql").write_text(PIPELINE.format(amount="amount * 10"))
    run_once(project)  # (applies the plan: its commit is not the replay's)
    catalog = project / ".headwater" / "catalog.ducklake"

    def snapshots() -> list[int]:
        rows = query(project, "SELECT snapshot_id FROM lake.snapshots() ORDER BY 1")
        return [r["snapshot_id"] for r in rows]

    before = snapshots()
    result = cli("replay", "clean", "--from", clean[0], "-p", str(project))
    assert result.exit_code == 0, result.output
    after = [s for s in snapshots() if s > before[-1]]
    con = duckdb.connect()
    import_extension("ducklake", con=con)  # (from its PyPI package: installed, then loaded)
    con.execute("LOAD ducklake")
    con.execute(f"ATTACH 'ducklake:{catalog}' AS l (DATA_PATH '{project}/.headwater/data/', READ_ONLY)")
    seen = []
    for snapshot in [before[-1], *after]:
        at = f"SELECT id, amount FROM l.silver.orders AT (VERSION => {snapshot}) ORDER BY id"
        seen.append(con.execute(at).fetchall())
    con.close()
    old = [(i, i) for i in range(9)]
    new = [(i, i * 10) for i in range(9)]
    assert seen[0] == old
    assert all(s in (old, new) for s in seen), seen  # whole, at every snapshot
    assert seen[-1] == new


def test_replay_refuses_what_it_cannot_do(project: Path) -> None:
    err = cli("replay", "load_orders", "--from", "2020-01-01", "-p", str(project))
    assert err.exit_code == 2 and "ingestion job" in err.stderr
    err = cli("replay", "nope", "--from", "2020-01-01", "-p", str(project))
    assert err.exit_code == 2 and "no transformation job named 'nope'" in err.stderr
    err = cli("replay", "clean", "--from", "yesterday", "-p", str(project))
    assert err.exit_code == 2 and "is not a timestamp" in err.stderr
    merge = project / "merge.sql"
    merge.write_text(
        "CREATE JOB acc RUN_INTERVAL = 1 SECOND AS MERGE INTO gold.acc t USING (SELECT count(*) AS n "
        "FROM silver.orders WHERE $commit_time BETWEEN run_start_time() AND run_end_time()) s ON false "
        "WHEN NOT MATCHED THEN INSERT (n) VALUES (s.n);\n"
    )
    err = cli("replay", "clean", "--from", "2020-01-01", "-p", str(project))
    assert err.exit_code == 2 and "job acc, downstream of clean, is a MERGE job" in err.stderr
    assert "traceback" not in err.output.lower()
