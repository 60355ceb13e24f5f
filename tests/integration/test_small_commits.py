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


def test_commit_clocks_grow_a_row_per_commit_until_maintenance_keeps_the_newest(
    make_project: Callable[..., hw.Project],
) -> None:
    project = make_project(
        PIPELINE.format(interval="1 DAY") + "CREATE MATERIALIZED VIEW gold.totals AS "
        "SELECT customer, sum(amount) AS total FROM silver.orders GROUP BY customer;\n"
    )
    rng = random.Random(11)
    rows: list[dict[str, object]] = []
    _settings(project, _slice(project, rng, rows, 5))  # each file is one commit
    assert hw.Project(project.path).run(once=True).ok
    # A commit adds a row to its table's clock (nothing read or deleted for it); the maintenance
    # at the end of `run --once` deleted all but the newest.
    loads = project.query("SELECT count(*) FROM system.runs WHERE job = 'load'").fetchall()[0][0]
    last = project.query("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')").fetchall()[0][0]
    changes = project.query(
        f"SELECT change_type, count(*), count(DISTINCT snapshot_id) FROM ducklake_table_changes('lake', 'headwater', 'clocks', 0, {last}) "
        "WHERE table_name = 'bronze.orders' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert loads >= 5 and changes == [("delete", loads - 1, 1), ("insert", loads, loads)], changes
    # The same for system.jobs, watermarks and offsets: views of each key's newest row.
    for view, log in (
        ("jobs", "job_status"),
        ("watermarks", "watermark_status"),
        ("offsets", "offset_status"),
    ):
        added = project.query(
            f"SELECT count(*) FROM ducklake_table_changes('lake', 'headwater', '{log}', 0, {last}) "
            "WHERE change_type = 'insert'"
        ).fetchall()[0][0]
        shown = project.query(f"SELECT count(*) FROM system.{view}").fetchall()[0][0]
        assert added >= loads and project.query(f"SELECT count(*) FROM headwater.{log}").fetchall() == [
            (shown,)
        ], view
    positions = project.query(
        'SELECT "partition", position FROM system.offsets WHERE "partition" LIKE \'%.jsonl\''
    ).fetchall()
    assert {p: n for p, n in positions} == {
        f"landing/{f.name}": f.stat().st_size for f in (project.path / "landing").glob("*.jsonl")
    }
    clocks = "SELECT table_name, count(*), max(last_commit) FROM headwater.clocks GROUP BY ALL ORDER BY ALL"
    kept = {r[0]: r[1:] for r in project.query(clocks).fetchall()}
    # Each table's clock is its newest commit: the $commit_time of its last rows.
    for table in ("bronze.orders", "silver.orders", "gold.totals"):
        newest = project.query(f'SELECT max("$commit_time") FROM {table}').fetchall()[0][0]
        assert kept[table] == (1, newest), table
    per_commit = project.query(
        'SELECT "$run_id", min("$commit_time"), max("$commit_time") FROM bronze.orders GROUP BY 1 ORDER BY 1'
    ).fetchall()
    times = [r[1] for r in per_commit]
    assert all(r[1] == r[2] for r in per_commit) and times == sorted(set(times))  # one each, rising

    write_jsonl(project.path / "landing/999999.jsonl", _orders(rng, len(rows), ROWS))
    assert hw.Project(project.path).run(once=True).ok
    latest = project.query(
        'SELECT min("$commit_time") FROM bronze.orders WHERE "$run_id" = (SELECT max("$run_id") FROM bronze.orders)'
    ).fetchall()[0][0]
    assert latest > max(newest for _, newest in kept.values())  # never back, after the cut either
