"""Many small commits through the real ingestion path leave a bounded lake: few data files,
old snapshots thinned, every row there, and provisional windows still replaced correctly."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

import headwater as hw
from headwater.lake.maintenance import lake_shape, maintain
from tests.conftest import write_jsonl
from tests.integration.test_window_clock import PIPELINE, _check, _orders

ROWS = 40  # per commit: more than DuckLake's default inlining limit (10 rows)
KEEP_ALL = 0.05  # minutes: 3 seconds of every snapshot


def _slice(project: hw.Project, rng: random.Random, rows: list[dict[str, object]], files: int) -> int:
    """``files`` new files of ``ROWS`` orders; returns the smallest file's size."""
    sizes = []
    for _ in range(files):
        batch = _orders(rng, len(rows), ROWS)
        rows += batch
        path = project.path / f"landing/{len(rows):06d}.jsonl"
        write_jsonl(path, batch)
        sizes.append(path.stat().st_size)
    return min(sizes)


def _settings(project: hw.Project, batch_bytes: int) -> None:
    (project.path / "headwater.toml").write_text(
        f"[run]\nbatch_bytes = {batch_bytes}\n[lake]\nsnapshot_keep_all_minutes = {KEEP_ALL}\n"
    )


def test_many_small_commits_leave_few_files_and_snapshots(make_project: Callable[..., hw.Project]) -> None:
    # Transformation windows of a day: `run --once` runs them provisionally, the next run replaces them.
    project = make_project(PIPELINE.format(interval="1 DAY"))
    rng = random.Random(5)
    rows: list[dict[str, object]] = []
    files = 20
    _settings(project, _slice(project, rng, rows, files))  # each file is one commit
    first = hw.Project(project.path).run(once=True)
    assert first.ok
    loads = "SELECT count(*) FROM system.runs WHERE job = 'load'"
    assert project.query(loads).fetchall()[0][0] >= files  # (a larger file is two commits)
    assert project.query("SELECT count(*) FROM headwater.provisional").fetchall()[0][0] > 0
    labelled = project.query(
        "SELECT snapshot_id FROM ducklake_snapshots('lake') WHERE commit_message = 'headwater provisional window'"
    ).fetchall()
    with project.open_lake() as lake:
        history = {
            s: lake.fetchall(f"SELECT count(*), sum(amount) FROM lake.silver.orders AT (VERSION => {s})")
            for (s,) in labelled
        }
    time.sleep(KEEP_ALL * 60 + 0.5)
    with project.open_lake() as lake:  # the provisional snapshots are now only kept as such
        maintain(lake, 168.0, keep_all_minutes=KEEP_ALL)
    phase_two = datetime.now(UTC)
    _settings(project, _slice(project, rng, rows, files))
    second = hw.Project(project.path).run(once=True)
    assert second.ok
    # Every row is there, once; the windows run again replaced their provisional output.
    assert project.query(loads).fetchall()[0][0] >= 2 * files
    ids = project.query(
        "SELECT count(*), count(DISTINCT order_id), min(order_id), max(order_id) FROM bronze.orders"
    )
    assert ids.fetchall() == [(len(rows), len(rows), 0, len(rows) - 1)]
    _check(project, rows, datetime.now(UTC))
    assert project.query("SELECT count(*) FROM system.runs WHERE status = 'replaced'").fetchall()[0][0] > 0
    time.sleep(KEEP_ALL * 60 + 0.5)
    with project.open_lake() as lake:
        maintain(lake, 168.0, keep_all_minutes=KEEP_ALL)
        shape = lake_shape(lake)
        per_table = lake.fetchall(
            "SELECT table_id, count(*) FROM __ducklake_metadata_lake.ducklake_data_file "
            "WHERE end_snapshot IS NULL GROUP BY ALL ORDER BY 2 DESC"
        )
        old = lake.fetchall("SELECT snapshot_id FROM lake.snapshots() WHERE snapshot_time < ?", [phase_two])
        for s, counts in history.items():  # a provisional snapshot still kept answers as before
            if (s,) in old:
                assert (
                    lake.fetchall(f"SELECT count(*), sum(amount) FROM lake.silver.orders AT (VERSION => {s})")
                    == counts
                )
    # 40 commits of 40 rows: one Parquet file each, and 80+ snapshots, before this version.
    assert per_table[0][1] <= 2, per_table
    assert len(old) <= 2, old  # the last snapshot of an hour (two, across an hour's end)
    assert shape["snapshots"] <= 12, shape  # the last 3 seconds': maintenance's own commits
    # Every file on disk is in use or waits for the next maintenance (a query may still read it).
    on_disk = sum(1 for _ in (project.state_dir / "data").rglob("*.parquet"))
    in_catalog = shape["data_files"] + shape["delete_files"] + shape["old_files"] + shape["files_to_delete"]
    assert on_disk == in_catalog, shape
    assert shape["files_to_delete"] <= 20, shape
