"""The dedupe state's storage is bounded by the window, not by the table's history."""

from __future__ import annotations

import time
from collections.abc import Callable

import headwater as hw
from tests.conftest import write_jsonl

SQL = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE JOB load DEDUPLICATE_WITH = (COLUMNS = (id), WINDOW = 1 SECOND) AS COPY FROM landing INTO bronze.events;
"""


def dedupe_bytes(project: hw.Project) -> int:
    folder = project.state_dir / "data" / "headwater" / "dedupe"
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def test_dedupe_state_stays_bounded_while_the_table_grows(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(SQL, toml="[lake]\nsnapshot_retention_hours = 0\n")
    sizes, rows = [], []
    for n in range(8):
        write_jsonl(project.path / "landing" / f"part-{n}.jsonl", [{"id": n * 5000 + i} for i in range(5000)])
        assert project.run(once=True).ok
        time.sleep(1.1)  # every key written so far is now outside the 1-second window
        sizes.append(dedupe_bytes(project))
        rows.append(project.query("SELECT count(*) FROM headwater.dedupe").fetchall()[0][0])
    assert project.query("SELECT count(*) FROM bronze.events").fetchall() == [(40_000,)]
    # Live keys: at most one batch (the others expired); files: no growth with history.
    assert max(rows) <= 5000
    assert sizes[-1] <= 2 * max(sizes[:2]), sizes
    # Keys are accepted again once their window has passed; a repeat inside a batch is a duplicate.
    write_jsonl(project.path / "landing" / "again.jsonl", [{"id": 1}, {"id": 39_999}, {"id": 39_999}])
    assert project.run(once=True).ok
    assert project.query("SELECT count(*) FROM bronze.events WHERE id IN (1, 39999)").fetchall() == [(4,)]
    last = project.query(
        "SELECT rows_read, rows_written, rows_deduplicated FROM system.runs ORDER BY run_id DESC LIMIT 1"
    )
    assert last.fetchall() == [(3, 2, 1)]
