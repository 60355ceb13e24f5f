"""DEDUPLICATE_WITH: a record whose key was written within the window is counted as deduplicated
and not written again — across the commits of one file, across files, across runs — while a
key outside the window is written again, a record without a key (all key columns NULL) is never
a duplicate, nested keys work, and the dedupe state stays bounded by the window."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

import headwater as hw
from headwater.lake.system_tables import STATE_VERSION
from tests.conftest import write_jsonl

MakeProject = Callable[..., hw.Project]


def job(columns: str, window: str = "1 HOUR", name: str = "load", table: str = "bronze.events") -> str:
    return f"""
        CREATE JOB {name} DEDUPLICATE_WITH = (COLUMNS = ({columns}), WINDOW = {window})
        AS COPY FROM landing PATTERN = '*.jsonl' INTO {table};
    """


CONNECTION = "CREATE FILES CONNECTION landing PATH = 'landing';"


def runs(project: hw.Project, job: str = "load") -> list[tuple[int, int, int, int]]:
    return project.query(
        "SELECT rows_read, rows_written, rows_deduplicated, rows_dropped + rows_quarantined "
        f"FROM system.runs WHERE job = '{job}' ORDER BY run_id"
    ).fetchall()


def totals(project: hw.Project, job: str = "load") -> tuple[int, int, int]:
    rows = runs(project, job)
    for read, written, dedup, other in rows:
        assert read == written + dedup + other
    return sum(r[0] for r in rows), sum(r[1] for r in rows), sum(r[2] for r in rows)


def first_lines(keys: list[int]) -> dict[int, int]:
    """key -> the (1-based) line of its first occurrence."""
    out: dict[int, int] = {}
    for n, k in enumerate(keys, start=1):
        out.setdefault(k, n)
    return out


def test_across_the_commits_of_one_file(make_project: MakeProject) -> None:
    project = make_project(CONNECTION + job("id"), toml="[run]\nbatch_bytes = 300\n")
    keys = [(i * 7) % 50 for i in range(400)]  # every key comes back, commits later
    write_jsonl(project.path / "landing/a.jsonl", [{"id": k, "seq": n} for n, k in enumerate(keys)])
    assert project.run(once=True).ok
    assert len(runs(project)) >= 10  # one file, many commits
    assert totals(project) == (400, 50, 350)
    got = dict(project.query("SELECT id, $source FROM bronze.events").fetchall())
    assert got == {k: f"file:landing/a.jsonl:{n}" for k, n in first_lines(keys).items()}
    # The later commits deduplicated against the earlier ones, not only within themselves.
    assert sum(1 for r in runs(project) if r[2] == r[0] and r[0] > 0) >= 8


@pytest.mark.parametrize("batch_bytes", [200, 1 << 20])
def test_across_files(make_project: MakeProject, batch_bytes: int) -> None:
    project = make_project(CONNECTION + job("id"), toml=f"[run]\nbatch_bytes = {batch_bytes}\n")
    write_jsonl(project.path / "landing/a.jsonl", [{"id": i, "f": "a"} for i in range(0, 20)])
    write_jsonl(project.path / "landing/b.jsonl", [{"id": i, "f": "b"} for i in range(10, 30)])
    write_jsonl(project.path / "landing/c.jsonl", [{"id": i, "f": "c"} for i in range(25, 35)])
    assert project.run(once=True).ok
    assert totals(project) == (50, 35, 15)
    got = dict(project.query("SELECT id, f FROM bronze.events").fetchall())
    assert got == {i: "a" if i < 20 else "b" if i < 30 else "c" for i in range(35)}


def test_across_runs(make_project: MakeProject) -> None:
    project = make_project(CONNECTION + job("id"))
    write_jsonl(project.path / "landing/a.jsonl", [{"id": i, "run": 1} for i in range(20)])
    assert project.run(once=True).ok
    write_jsonl(project.path / "landing/a.jsonl", [{"id": i, "run": 2} for i in range(10, 30)])  # grows
    write_jsonl(project.path / "landing/b.jsonl", [{"id": i, "run": 2} for i in range(25, 40)])  # new file
    assert project.run(once=True).ok
    assert runs(project) == [(20, 20, 0, 0), (35, 20, 15, 0)]
    got = dict(project.query("SELECT id, run FROM bronze.events").fetchall())
    assert got == {i: 1 if i < 20 else 2 for i in range(40)}
    # A third run reads nothing and changes nothing.
    assert project.run(once=True).ok
    assert len(runs(project)) == 2


def test_a_key_outside_the_window_is_written_again(make_project: MakeProject) -> None:
    project = make_project(
        CONNECTION
        + job("id", "1 SECOND", name="short", table="bronze.short")
        + job("id", "1 HOUR", name="long", table="bronze.long")
    )
    write_jsonl(project.path / "landing/a.jsonl", [{"id": 1, "n": 1}, {"id": 2, "n": 1}, {"id": 1, "n": 2}])
    assert project.run(once=True).ok
    time.sleep(1.5)  # the first run's keys are now outside the 1-second window
    write_jsonl(project.path / "landing/b.jsonl", [{"id": 1, "n": 3}, {"id": 1, "n": 4}, {"id": 3, "n": 3}])
    assert project.run(once=True).ok
    short = project.query("SELECT id, n FROM bronze.short ORDER BY n, id").fetchall()
    long = project.query("SELECT id, n FROM bronze.long ORDER BY n, id").fetchall()
    # Within a batch the window always holds; across the sleep only the long window does.
    assert short == [(1, 1), (2, 1), (1, 3), (3, 3)]
    assert long == [(1, 1), (2, 1), (3, 3)]
    assert totals(project, "short") == (6, 4, 2)
    assert totals(project, "long") == (6, 3, 3)


def test_records_without_a_key_are_never_duplicates(make_project: MakeProject) -> None:
    project = make_project(CONNECTION + job("a, b"))
    rows = [
        {"a": None, "b": None, "n": 1},
        {"a": None, "b": None, "n": 2},
        {"n": 3},  # neither key column present
        {"n": 4},
        {"a": 1, "b": None, "n": 5},
        {"a": 1, "b": None, "n": 6},  # a key with one NULL part is still a key: a duplicate
        {"a": None, "b": 1, "n": 7},  # a different key from (1, NULL)
        {"a": 1, "b": 1, "n": 8},
        {"a": 1, "b": 1, "n": 9},
    ]
    write_jsonl(project.path / "landing/a.jsonl", rows)
    assert project.run(once=True).ok
    write_jsonl(
        project.path / "landing/b.jsonl",
        [{"a": None, "b": None, "n": 10}, {"n": 11}, {"a": 1, "b": 1, "n": 12}],
    )
    assert project.run(once=True).ok
    written = [r[0] for r in project.query("SELECT n FROM bronze.events ORDER BY n").fetchall()]
    assert written == [1, 2, 3, 4, 5, 7, 8, 10, 11]
    assert totals(project) == (12, 9, 3)


def test_a_batch_where_no_record_has_the_key_columns(make_project: MakeProject) -> None:
    project = make_project(CONNECTION + job("id"))
    write_jsonl(project.path / "landing/a.jsonl", [{"id": 1, "n": 1}])
    assert project.run(once=True).ok
    write_jsonl(project.path / "landing/b.jsonl", [{"n": 2}, {"n": 3}])
    result = project.run(once=True)
    assert result.ok, result.failed_jobs
    assert [r[0] for r in project.query("SELECT n FROM bronze.events ORDER BY n").fetchall()] == [1, 2, 3]
    assert totals(project) == (3, 3, 0)


def test_nested_key(make_project: MakeProject) -> None:
    project = make_project(CONNECTION + job("customer.id"))
    rows = [
        {"n": 1, "customer": {"id": 1, "name": "ann"}},
        {"n": 2, "customer": {"id": 2, "name": "bob"}},
        {"n": 3, "customer": {"id": 1, "name": "ann again"}},  # duplicate of n=1
        {"n": 4, "customer": {"id": None, "name": "nobody"}},
        {"n": 5, "customer": {"id": None, "name": "nobody"}},  # NULL key: never a duplicate
        {"n": 6, "customer": None},
        {"n": 7},
        {"n": 8, "customer": {"id": 3, "name": "cy"}},
    ]
    write_jsonl(project.path / "landing/a.jsonl", rows)
    assert project.run(once=True).ok
    write_jsonl(
        project.path / "landing/b.jsonl",
        [{"n": 9, "customer": {"id": 2, "name": "bob"}}, {"n": 10, "customer": {"id": 4, "name": "di"}}],
    )
    assert project.run(once=True).ok
    written = [r[0] for r in project.query("SELECT n FROM bronze.events ORDER BY n").fetchall()]
    assert written == [1, 2, 4, 5, 6, 7, 8, 10]
    assert totals(project) == (10, 8, 2)


def test_nested_key_when_a_batch_lacks_the_field(make_project: MakeProject) -> None:
    """customer.id is optional: batches without customer, or whose customers have no id, still
    load (their records have no key), and later keys are still deduplicated."""
    project = make_project(CONNECTION + job("customer.id"))
    write_jsonl(project.path / "landing/a.jsonl", [{"n": 1, "customer": {"id": 1}}])
    assert project.run(once=True).ok
    write_jsonl(project.path / "landing/b.jsonl", [{"n": 2}, {"n": 3}])
    result = project.run(once=True)
    assert result.ok, result.failed_jobs
    write_jsonl(
        project.path / "landing/c.jsonl",
        [{"n": 4, "customer": {"name": "x"}}, {"n": 5, "customer": {"name": "x"}}],
    )
    result = project.run(once=True)
    assert result.ok, result.failed_jobs
    write_jsonl(
        project.path / "landing/d.jsonl", [{"n": 6, "customer": {"id": 1}}, {"n": 7, "customer": {"id": 2}}]
    )
    result = project.run(once=True)
    assert result.ok, result.failed_jobs
    written = [r[0] for r in project.query("SELECT n FROM bronze.events ORDER BY n").fetchall()]
    assert written == [1, 2, 3, 4, 5, 7]
    assert totals(project) == (7, 6, 1)


def test_state_is_bounded_by_the_window(make_project: MakeProject) -> None:
    project = make_project(CONNECTION + job("id", "1 SECOND"))
    per_window = 40
    live = []
    for w in range(6):
        # Distinct new keys, plus repeats of this window's own keys (deduplicated within it).
        keys = [w * 1000 + i for i in range(per_window)]
        write_jsonl(project.path / f"landing/w{w}.jsonl", [{"id": k} for k in keys + keys[:5]])
        assert project.run(once=True).ok
        live.append(project.query("SELECT count(*) FROM headwater.dedupe").fetchall()[0][0])
        time.sleep(1.2)  # this window's keys expire
    assert project.query("SELECT count(*) FROM bronze.events").fetchall() == [(6 * per_window,)]
    assert totals(project) == (6 * (per_window + 5), 6 * per_window, 6 * 5)
    assert all(0 < n <= per_window for n in live), live
    # An expired key is accepted again; the state still only holds the last window's keys.
    write_jsonl(project.path / "landing/again.jsonl", [{"id": 0}, {"id": 5000}, {"id": 5000}])
    assert project.run(once=True).ok
    assert project.query("SELECT count(*) FROM bronze.events WHERE id = 0").fetchall() == [(2,)]
    assert project.query("SELECT count(*) FROM headwater.dedupe").fetchall()[0][0] <= 2


def test_the_state_holds_no_key_in_clear(make_project: MakeProject, tmp_path: Path) -> None:
    project = make_project(CONNECTION + job("email"))
    emails = [f"person.{i}.dedupe-secret@example.com" for i in range(15)]
    write_jsonl(project.path / "landing/a.jsonl", [{"email": e} for e in emails + emails[:3]])
    assert project.run(once=True).ok
    assert totals(project) == (18, 15, 3)
    state = project.query("SELECT to_json(d)::VARCHAR FROM headwater.dedupe d").fetchall()
    assert len(state) == 15
    assert not any(e in row[0] for row in state for e in emails)


def test_a_lake_from_state_version_1_is_migrated(make_project: MakeProject) -> None:
    project = make_project(CONNECTION + job("id"))
    write_jsonl(project.path / "landing/a.jsonl", [{"id": 1}, {"id": 2}])
    assert project.run(once=True).ok
    with project.open_lake() as lake:  # what version 1 left behind: keys as BLOBs
        lake.execute("DROP TABLE lake.headwater.dedupe")
        lake.execute("CREATE TABLE lake.headwater.dedupe (job VARCHAR, key BLOB, seen_at TIMESTAMPTZ)")
        lake.execute("INSERT INTO lake.headwater.dedupe VALUES ('load_events', '\\x01'::BLOB, now())")
        lake.execute("UPDATE lake.headwater.meta SET value = '1' WHERE key = 'state_version'")
    write_jsonl(project.path / "landing/b.jsonl", [{"id": 3}, {"id": 3}])
    assert project.run(once=True).ok
    columns = project.query("SELECT * FROM headwater.dedupe LIMIT 0").columns
    assert columns == ["job", "key_hi", "key_lo", "seen_at"]
    assert project.query("SELECT value FROM headwater.meta WHERE key = 'state_version'").fetchall() == [
        (str(STATE_VERSION),)
    ]
    assert project.query("SELECT count(*) FROM headwater.dedupe").fetchall() == [(1,)]  # id 3, once
    assert totals(project) == (4, 3, 1)


def test_a_lake_from_state_version_2_gets_the_progress_columns_of_offsets(make_project: MakeProject) -> None:
    project = make_project(CONNECTION + job("id"))
    write_jsonl(project.path / "landing/a.jsonl", [{"id": 1}, {"id": 2}])
    assert project.run(once=True).ok
    with project.open_lake() as lake:  # what version 2 left behind: a table of positions only
        lake.execute(
            'CREATE TABLE lake.main.old AS SELECT job, "partition", position, line, committed_at FROM lake.system.offsets'
        )
        lake.execute("DROP VIEW lake.system.offsets")
        lake.execute("DELETE FROM lake.headwater.offset_status")
        lake.execute("CREATE TABLE lake.system.offsets AS FROM lake.main.old")
        lake.execute("DROP TABLE lake.main.old")
        lake.execute("UPDATE lake.headwater.meta SET value = '2' WHERE key = 'state_version'")
        lake.execute("UPDATE lake.headwater.meta SET value = 'version 2' WHERE key = 'tables_fingerprint'")
    write_jsonl(project.path / "landing/b.jsonl", [{"id": 3}])
    assert project.run(once=True).ok
    assert project.query("SELECT * FROM system.offsets LIMIT 0").columns == [
        "job",
        "partition",
        "position",
        "line",
        "committed_at",
        "end_position",
        "behind",
        "seconds_behind",
        "connection",
    ]
    assert totals(project) == (3, 3, 0)
    assert project.query("SELECT value FROM headwater.meta WHERE key = 'state_version'").fetchall() == [
        (str(STATE_VERSION),)
    ]


def test_a_lake_from_state_version_3_keeps_its_job_statuses(make_project: MakeProject) -> None:
    project = make_project(CONNECTION + job("id"))
    write_jsonl(project.path / "landing/a.jsonl", [{"id": 1}, {"id": 2}])
    assert project.run(once=True).ok
    with project.open_lake() as lake:  # what version 3 left behind: system.jobs, a table
        lake.execute("DROP VIEW lake.system.jobs")
        lake.execute(
            "CREATE TABLE lake.system.jobs (name VARCHAR, kind VARCHAR, status VARCHAR, target VARCHAR, "
            "last_run TIMESTAMPTZ, lag_seconds DOUBLE, error VARCHAR)"
        )
        lake.execute(
            "INSERT INTO lake.system.jobs VALUES "
            "('load', 'ingest', 'running', 'bronze.events', TIMESTAMPTZ '2026-01-02 03:04:05+00', 0, NULL), "
            "('old', 'transform', 'failed', 'silver.x', TIMESTAMPTZ '2026-01-01 00:00:00+00', NULL, 'boom')"
        )
        lake.execute("DELETE FROM lake.headwater.job_status")
        lake.execute("UPDATE lake.headwater.meta SET value = '3' WHERE key = 'state_version'")
        lake.execute("UPDATE lake.headwater.meta SET value = 'version 3' WHERE key = 'tables_fingerprint'")
    # A command that only reads brings the lake up to date, and shows the statuses as they were.
    statuses = "SELECT name, status, last_run, error FROM system.jobs ORDER BY name"
    before = project.query(statuses).fetchall()
    assert [(r[0], r[1], r[3]) for r in before] == [("load", "running", None), ("old", "failed", "boom")]
    assert str(before[0][2]).startswith("2026-01-02")
    assert project.query(
        "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'system' AND view_name = 'jobs'"
    ).fetchall() == [(1,)]
    write_jsonl(project.path / "landing/b.jsonl", [{"id": 3}])
    assert project.run(once=True).ok
    after = dict((r[0], r[1:]) for r in project.query(statuses).fetchall())
    assert after["old"] == before[1][1:] and after["load"][0] == "running" and after["load"][1] > before[0][2]
    assert project.query("SELECT count(*) FROM headwater.job_status").fetchall() == [(2,)]  # maintained
    assert project.query("SELECT value FROM headwater.meta WHERE key = 'state_version'").fetchall() == [
        (str(STATE_VERSION),)
    ]
