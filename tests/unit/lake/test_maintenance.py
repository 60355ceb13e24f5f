"""Lake maintenance on many small commits: inlined rows are written out and small files merged,
and every snapshot kept answers as before (time travel and change feed)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from headwater.lake import Lake
from headwater.lake.maintenance import INLINE_ROWS, configure, lake_shape, maintain


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "catalog.ducklake"), str(tmp_path / "data"))
    lake.execute("CREATE SCHEMA lake.headwater")
    lake.execute(
        "CREATE TABLE lake.headwater.dedupe (job VARCHAR, key_hi BIGINT, key_lo BIGINT, seen_at TIMESTAMPTZ)"
    )
    lake.execute(
        "CREATE TABLE lake.headwater.provisional (job VARCHAR, run_id BIGINT, commit_time TIMESTAMPTZ)"
    )
    lake.execute("CREATE TABLE lake.main.t (id BIGINT, v VARCHAR)")
    lake.execute("CREATE TABLE lake.main.state (k VARCHAR, n BIGINT)")
    configure(lake)
    return lake


def _history(lake: Lake, since: int) -> dict[int, tuple[object, ...]]:
    """What each snapshot after ``since`` holds: rows of t, their sum, the state row, t's
    changes in it."""
    out: dict[int, tuple[object, ...]] = {}
    for (s,) in lake.fetchall(
        "SELECT snapshot_id FROM lake.snapshots() WHERE snapshot_id > ? ORDER BY 1", [since]
    ):
        t = lake.fetchone(f"SELECT count(*), sum(id) FROM lake.main.t AT (VERSION => {s})")
        state = lake.fetchall(f"SELECT k, n FROM lake.main.state AT (VERSION => {s})")
        changes = lake.fetchall(
            f"SELECT change_type, count(*) FROM ducklake_table_changes('lake', 'main', 't', {s}, {s}) GROUP BY ALL ORDER BY ALL"
        )
        out[s] = (t, tuple(state), tuple(changes))
    return out


def test_small_commits_are_inlined_then_compacted_without_changing_any_snapshot(lake: Lake) -> None:
    since = lake.snapshot_id()
    rows = 50  # more than DuckLake's default limit (10): a Parquet file per commit without ours
    assert rows <= INLINE_ROWS
    for i in range(60):
        with lake.transaction():
            lake.execute(
                f"INSERT INTO lake.main.t SELECT range, 'x' FROM range({i * rows}, {(i + 1) * rows})"
            )
            lake.execute("DELETE FROM lake.main.state")
            lake.execute(f"INSERT INTO lake.main.state VALUES ('a', {i})")
    before = lake_shape(lake)
    assert before["data_files"] == 0 and before["inlined_rows"] >= 60 * rows
    history = _history(lake, since)
    done = maintain(lake, 168.0, keep_all_minutes=60.0, flush_rows=50)
    assert done.snapshots_expired == 0
    after = lake_shape(lake)
    assert after["inlined_rows"] == 0 and done.tables_flushed == 2
    assert after["data_files"] <= 4  # t and state, written out and merged
    assert {s: v for s, v in _history(lake, since).items() if s in history} == history
    assert lake.fetchall("SELECT count(*), count(DISTINCT id) FROM lake.main.t") == [(60 * rows, 60 * rows)]


def test_old_snapshots_are_thinned_but_the_newest_and_provisional_ones_stay(lake: Lake) -> None:
    since = lake.snapshot_id()
    labelled = 0
    for i in range(40):
        with lake.transaction():
            lake.execute(f"INSERT INTO lake.main.t VALUES ({i}, 'x')")
            if i == 7:  # a provisional window's commit, still to be replaced
                lake.execute(
                    "CALL lake.set_commit_message('headwater', 'headwater provisional window', "
                    'extra_info => \'{"job": "j", "run_id": 3}\')'
                )
        if i == 7:
            labelled = lake.snapshot_id()
    lake.execute("INSERT INTO lake.headwater.provisional VALUES ('j', 3, now())")
    history = _history(lake, since)
    maintain(lake, 168.0, keep_all_minutes=0.0)
    kept = [s for (s,) in lake.fetchall("SELECT snapshot_id FROM lake.snapshots() ORDER BY 1")]
    # the labelled one, the last of this hour (also the newest before maintenance), what
    # maintenance itself committed; nothing else
    assert labelled in kept and history and max(history) in kept
    assert len([s for s in kept if s in history]) <= 3
    assert {s: v for s, v in _history(lake, since).items() if s in history} == {
        s: v for s, v in history.items() if s in kept
    }
    with pytest.raises(duckdb.Error, match="No snapshot found"):
        lake.fetchall(f"SELECT count(*) FROM lake.main.t AT (VERSION => {labelled + 1})")


def test_the_snapshots_an_incremental_view_still_reads_stay(lake: Lake) -> None:
    """A view refreshes from the change feed of each snapshot after the one it last read (in
    its clock row): within the retention, those stay; the ones before go."""
    lake.execute(
        "CREATE TABLE lake.headwater.clocks (table_name VARCHAR, last_commit TIMESTAMPTZ, "
        "sealed_until TIMESTAMPTZ, read_snapshot BIGINT)"
    )
    for i in range(10):
        lake.execute(f"INSERT INTO lake.main.t VALUES ({i}, 'x')")
        if i == 3:
            read = lake.snapshot_id()
    lake.execute("INSERT INTO lake.headwater.clocks VALUES ('gold.v', now(), NULL, ?)", [read])
    newest = lake.snapshot_id()
    maintain(lake, 168.0, keep_all_minutes=0.0)
    kept = {s for (s,) in lake.fetchall("SELECT snapshot_id FROM lake.snapshots()")}
    assert set(range(read, newest + 1)) <= kept and read - 1 not in kept
    maintain(lake, 0.0, keep_all_minutes=0.0)  # (past the retention: gone too)
    assert read not in {s for (s,) in lake.fetchall("SELECT snapshot_id FROM lake.snapshots()")}
