"""A crash at exactly the instants that matter: just before and just after a commit.

The random kill -9 test (test_crash.py) rarely lands in the microseconds around COMMIT; here
the process kills itself there (HEADWATER_FAILPOINT), then a clean run must leave every row
exactly once. If rows and positions were committed separately, ``before_commit`` would lose or
duplicate rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

import headwater as hw
from tests.conftest import write_jsonl

SQL = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE JOB load DEDUPLICATE_WITH = (COLUMNS = (k), WINDOW = 1 DAY) AS COPY FROM landing INTO bronze.events
WITH EXPECTATION small EXPECT v < 90 ON VIOLATION QUARANTINE;
CREATE JOB agg RUN_INTERVAL = 1 HOUR AS INSERT INTO silver.totals
SELECT count(*) AS n, sum(v) AS total FROM bronze.events WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
"""
RUN = "import sys, headwater; sys.exit(0 if headwater.Project(sys.argv[1]).run(once=True).ok else 1)"


@pytest.mark.parametrize(
    "point",
    ["ingest.before_commit", "ingest.after_commit", "transform.before_commit", "transform.after_commit"],
)
def test_a_crash_at_commit_neither_loses_nor_duplicates(
    make_project: Callable[..., hw.Project], point: str
) -> None:
    project = make_project(SQL, toml="[run]\nbatch_bytes = 2048\n")
    rows = [{"id": i, "k": i % 150, "v": i % 100} for i in range(400)]
    write_jsonl(project.path / "landing/a.jsonl", rows)
    crashed = subprocess.run(
        [sys.executable, "-c", RUN, str(project.path)], env={**os.environ, "HEADWATER_FAILPOINT": point}
    )
    assert crashed.returncode == -signal.SIGKILL
    assert project.run(once=True).ok
    kept = [r for r in rows if r["v"] < 90]
    first_per_key: dict[int, dict[str, int]] = {}
    for r in kept:
        first_per_key.setdefault(r["k"], r)
    expected_ids = sorted(r["id"] for r in first_per_key.values())
    assert [
        r[0] for r in project.query("SELECT id FROM bronze.events ORDER BY id").fetchall()
    ] == expected_ids
    quarantined = project.query(
        'SELECT count(*), count(DISTINCT "$source") FROM system.quarantine'
    ).fetchall()
    assert quarantined == [(40, 40)]
    totals = project.query("SELECT sum(n), sum(total) FROM silver.totals").fetchall()
    assert totals == [(len(expected_ids), sum(first_per_key[k]["v"] for k in first_per_key))]
    runs = project.query(
        "SELECT sum(rows_read), sum(rows_written), sum(rows_deduplicated), sum(rows_quarantined) "
        "FROM system.runs WHERE job = 'load'"
    ).fetchall()
    assert runs == [(400, len(expected_ids), len(kept) - len(expected_ids), 40)]
