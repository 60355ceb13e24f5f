"""kill -9 at random instants, then a final `run --once`: every row exactly once, everywhere."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import headwater as hw

PROJECT = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE TABLE bronze.events;
CREATE JOB load_events AS COPY FROM landing PATTERN = '**/*.jsonl' INTO bronze.events;
CREATE JOB first_per_bucket DEDUPLICATE_WITH = (COLUMNS = (bucket), WINDOW = 1 DAY)
    AS COPY FROM landing PATTERN = '**/*.jsonl' INTO bronze.buckets;
CREATE JOB events_silver RUN_INTERVAL = 1 SECOND AS
INSERT INTO silver.events
SELECT id, kind, value * 2 AS doubled FROM bronze.events
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
"""

RUNNER = "import sys, headwater; headwater.Project(sys.argv[1]).run(once=False)"


def write_file(path: Path, start: int, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for i in range(start, start + count):
            f.write(json.dumps({"id": i, "kind": f"k{i % 7}", "value": i, "bucket": i % 1000}) + "\n")


def test_kill_minus_nine_never_loses_or_duplicates(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    (tmp_path / "pipeline.sql").write_text(PROJECT)
    # Small batches so that a kill lands between, during and after many commits.
    (tmp_path / "headwater.toml").write_text("[run]\npoll_interval_seconds = 0.05\nbatch_bytes = 65536\n")
    next_id = 0
    # Enough data that the runner is busy committing small batches when the kills land.
    for n in range(40):
        write_file(tmp_path / "landing" / f"part-{n:02d}.jsonl", next_id, 4000)
        next_id += 4000
    grow = tmp_path / "landing" / "growing" / "live.jsonl"
    kills = 0
    for round_ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path)], stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.6, 2.0))
        # New data arrives while the pipeline runs: a growing file and a new file.
        write_file(grow, next_id, 500)
        next_id += 500
        write_file(tmp_path / "landing" / f"late-{round_}.jsonl", next_id, 700)
        next_id += 700
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        _, err = proc.communicate(timeout=30)
        assert b"Traceback" not in err, err.decode()
    assert kills >= 5

    result = hw.Project(tmp_path).run(once=True)
    assert result.ok, result.failed_jobs
    project = hw.Project(tmp_path)
    bronze = project.query(
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM bronze.events"
    ).fetchall()[0]
    assert bronze == (next_id, next_id, 0, next_id - 1)
    silver = project.query("SELECT count(*), count(DISTINCT id), sum(doubled) FROM silver.events").fetchall()[
        0
    ]
    assert silver == (next_id, next_id, 2 * sum(range(next_id)))
    # Every source line is recorded exactly once in $source.
    sources = project.query('SELECT count(DISTINCT "$source") FROM bronze.events').fetchall()[0][0]
    assert sources == next_id
    # The accounting of every committed run adds up, and the offsets point at each file's end.
    bad = project.query(
        "SELECT count(*) FROM system.runs WHERE rows_read <> rows_written + rows_deduplicated + rows_dropped + rows_quarantined"
    ).fetchall()[0][0]
    assert bad == 0
    read = project.query("SELECT sum(rows_read) FROM system.runs WHERE job = 'load_events'").fetchall()[0][0]
    assert read == next_id
    ends = dict(
        project.query(
            "SELECT \"partition\", position FROM system.offsets WHERE job = 'load_events'"
        ).fetchall()
    )
    for path in (tmp_path / "landing").rglob("*.jsonl"):
        assert ends[f"landing/{path.relative_to(tmp_path / 'landing').as_posix()}"] == path.stat().st_size
    # Deduplication state commits with the rows: one row per key, however the kills fell.
    buckets = project.query("SELECT count(*), count(DISTINCT bucket) FROM bronze.buckets").fetchall()[0]
    assert buckets == (1000, 1000)
    dedup = project.query(
        "SELECT sum(rows_read), sum(rows_written), sum(rows_deduplicated) FROM system.runs WHERE job = 'first_per_bucket'"
    ).fetchall()[0]
    assert dedup == (next_id, 1000, next_id - 1000)
    # $commit_time never goes backwards within a table, in commit (run id) order.
    backwards = project.query(
        'SELECT count(*) FROM (SELECT "$commit_time" - lag("$commit_time") OVER (ORDER BY "$run_id") d '
        'FROM (SELECT DISTINCT "$run_id", "$commit_time" FROM bronze.events)) WHERE d < INTERVAL 0 SECOND'
    ).fetchall()[0][0]
    assert backwards == 0
