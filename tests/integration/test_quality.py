"""Expectations (all four actions), ABORT + resume, ON_SCHEMA_CHANGE, quarantine replay, ALTER JOB."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import headwater as hw
from headwater.errors import UserError
from tests.conftest import write_jsonl

JOB = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE TABLE bronze.orders (order_id BIGINT, amount DOUBLE, status VARCHAR);
CREATE JOB load_orders {options} AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders
{expectations};
CREATE JOB big_orders RUN_INTERVAL = 1 HOUR AS INSERT INTO silver.big
SELECT order_id, amount FROM bronze.orders WHERE $commit_time BETWEEN run_start_time() AND run_end_time()
WITH EXPECTATION not_too_big EXPECT amount < 1000 ON VIOLATION QUARANTINE;
"""

FOUR = """WITH EXPECTATION positive EXPECT amount > 0 ON VIOLATION DROP
WITH EXPECTATION known_status EXPECT status IN ('new', 'paid') ON VIOLATION QUARANTINE
WITH EXPECTATION round EXPECT amount = floor(amount) ON VIOLATION WARN
WITH EXPECTATION sane EXPECT amount < 1000000 ON VIOLATION ABORT"""


def project_with(
    make_project: Callable[..., hw.Project], options: str = "", expectations: str = FOUR
) -> hw.Project:
    return make_project(JOB.format(options=options, expectations=expectations))


def test_each_action_puts_rows_in_their_place(make_project: Callable[..., hw.Project]) -> None:
    project = project_with(make_project)
    rows = [
        {"order_id": 1, "amount": 10, "status": "new"},  # written
        {"order_id": 2, "amount": -5, "status": "new"},  # dropped
        {"order_id": 3, "amount": 7, "status": "lost"},  # quarantined
        {"order_id": 4, "amount": 2.5, "status": "paid"},  # written, warned
        {"order_id": 5, "amount": -1, "status": "lost"},  # quarantined and dropped: quarantine wins
        {"order_id": 6, "amount": 2000, "status": "paid"},  # written, quarantined downstream
    ]
    write_jsonl(project.path / "landing/a.jsonl", rows)
    assert project.run(once=True).ok
    assert project.query("SELECT order_id FROM bronze.orders ORDER BY 1").fetchall() == [(1,), (4,), (6,)]
    run = project.query(
        "SELECT rows_read, rows_written, rows_deduplicated, rows_dropped, rows_quarantined FROM system.runs "
        "WHERE job = 'load_orders'"
    ).fetchall()
    assert run == [(6, 3, 0, 1, 2)]
    counts = dict(
        project.query(
            "SELECT expectation, violations FROM system.expectations WHERE job = 'load_orders'"
        ).fetchall()
    )
    assert counts == {"positive": 2, "known_status": 2, "round": 1, "sane": 0}
    quarantined = project.query(
        'SELECT job, "$source", reason FROM system.quarantine ORDER BY job, "$source"'
    ).fetchall()
    assert quarantined[:2] == [
        ("big_orders", quarantined[0][1], "expectation not_too_big (QUARANTINE) failed"),
        ("load_orders", "file:landing/a.jsonl:3", "expectation known_status (QUARANTINE) failed"),
    ]
    assert quarantined[2][1:] == (
        "file:landing/a.jsonl:5",
        "expectation positive (DROP) failed; expectation known_status (QUARANTINE) failed",
    )
    assert project.query("SELECT order_id FROM silver.big ORDER BY 1").fetchall() == [(1,), (4,)]
    assert project.query(
        "SELECT rows_read, rows_written, rows_quarantined FROM system.runs WHERE job = 'big_orders'"
    ).fetchall() == [(3, 2, 1)]


def test_abort_commits_nothing_and_resume_continues_from_the_same_position(
    make_project: Callable[..., hw.Project],
) -> None:
    project = project_with(make_project, options="", expectations=FOUR)
    write_jsonl(project.path / "landing/a.jsonl", [{"order_id": 1, "amount": 5, "status": "new"}])
    assert project.run(once=True).ok
    write_jsonl(
        project.path / "landing/a.jsonl",
        [{"order_id": 2, "amount": 6, "status": "new"}, {"order_id": 3, "amount": 5e9, "status": "new"}],
    )
    result = project.run(once=True)
    assert not result.ok
    error = result.failed_jobs["load_orders"]
    assert (
        "expectation sane" in error
        and "file:landing/a.jsonl:3" in error
        and "headwater resume load_orders" in error
    )
    assert project.query("SELECT count(*) FROM bronze.orders").fetchall() == [(1,)]  # nothing of the batch
    # It stays stopped across runs (and says why) until resumed...
    again = project.run(once=True)
    assert "expectation sane" in again.failed_jobs["load_orders"]
    status = {s["name"]: s for s in project.status()}["load_orders"]
    assert status["status"] == "failed"
    # ...the user fixes the data (the bad line is rewritten in place, same length) and resumes.
    path = project.path / "landing/a.jsonl"
    path.write_text(path.read_text().replace('"amount": 5000000000.0', '"amount": 50.00000000000'))
    project.resume("load_orders")
    assert project.run(once=True).ok
    assert project.query("SELECT order_id, amount FROM bronze.orders ORDER BY 1").fetchall() == [
        (1, 5.0),
        (2, 6.0),
        (3, 50.0),
    ]


def test_alter_job_adds_and_drops_expectations_keeping_past_counts(
    make_project: Callable[..., hw.Project],
) -> None:
    project = project_with(
        make_project, expectations="WITH EXPECTATION positive EXPECT amount > 0 ON VIOLATION DROP"
    )
    write_jsonl(project.path / "landing/a.jsonl", [{"order_id": 1, "amount": -1, "status": "x"}])
    assert project.run(once=True).ok
    project.query("ALTER JOB load_orders ADD EXPECTATION known EXPECT status = 'new' ON VIOLATION QUARANTINE")
    project.query("ALTER JOB load_orders DROP EXPECTATION positive")
    write_jsonl(project.path / "landing/a.jsonl", [{"order_id": 2, "amount": -1, "status": "x"}])
    assert project.run(once=True).ok
    counts = project.query(
        "SELECT run_id, expectation, violations FROM system.expectations WHERE job = 'load_orders' ORDER BY run_id"
    ).fetchall()
    assert [(e, v) for _, e, v in counts] == [("positive", 1), ("known", 1)]
    assert project.query("SELECT count(*) FROM system.quarantine").fetchall() == [(1,)]
    with pytest.raises(UserError, match="no expectation 'nope'"):
        project.query("ALTER JOB load_orders DROP EXPECTATION nope")


def test_schema_change_modes(make_project: Callable[..., hw.Project]) -> None:
    rows = [
        {"order_id": 1, "amount": 1, "status": "new"},
        {"order_id": 2, "amount": 2, "status": "new", "coupon": "X1"},
        {"order_id": "three", "amount": 3, "status": "new"},
    ]
    evolve = project_with(make_project, expectations="")
    write_jsonl(evolve.path / "landing/a.jsonl", rows)
    assert evolve.run(once=True).ok
    assert evolve.query("SELECT order_id, coupon FROM bronze.orders ORDER BY 1").fetchall() == [
        (1, None),
        (2, "X1"),
    ]
    assert evolve.query("SELECT reason FROM system.quarantine").fetchall() == [
        ("column order_id: expected BIGINT",)
    ]


def test_schema_quarantine_and_fail(
    make_project: Callable[..., hw.Project], tmp_path_factory: pytest.TempPathFactory
) -> None:
    rows = [
        {"order_id": 1, "amount": 1, "status": "new"},
        {"order_id": 2, "amount": 2, "status": "new", "coupon": "X1"},
    ]
    for mode in ("QUARANTINE", "FAIL"):
        base = tmp_path_factory.mktemp(mode.lower())
        (base / "pipeline.sql").write_text(JOB.format(options=f"ON_SCHEMA_CHANGE = {mode}", expectations=""))
        write_jsonl(base / "landing/a.jsonl", rows)
        project = hw.Project(base)
        result = project.run(once=True)
        if mode == "QUARANTINE":
            assert result.ok
            assert project.query("SELECT order_id FROM bronze.orders").fetchall() == [(1,)]
            assert project.query('SELECT "$source", reason FROM system.quarantine').fetchall() == [
                ("file:landing/a.jsonl:2", "columns not in bronze.orders: coupon")
            ]
        else:
            assert "ON_SCHEMA_CHANGE = FAIL" in result.failed_jobs["load_orders"]
            assert "file:landing/a.jsonl:2" in result.failed_jobs["load_orders"]
            assert project.query("SELECT count(*) FROM bronze.orders").fetchall() == [(0,)]


def test_integer_column_widens_to_double_under_evolve(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        "CREATE FILES CONNECTION landing PATH = 'landing';\nCREATE JOB j AS COPY FROM landing INTO bronze.m;"
    )
    write_jsonl(project.path / "landing/a.jsonl", [{"v": 1}])
    assert project.run(once=True).ok
    write_jsonl(project.path / "landing/b.jsonl", [{"v": 1.5}])
    assert project.run(once=True).ok
    assert project.query("SELECT v FROM bronze.m ORDER BY v").fetchall() == [(1.0,), (1.5,)]


def test_widening_within_one_batch(make_project: Callable[..., hw.Project]) -> None:
    # Both files are read into one commit: the table the first creates is widened by the second.
    project = make_project(
        "CREATE FILES CONNECTION landing PATH = 'landing';\nCREATE JOB j AS COPY FROM landing INTO bronze.m;"
    )
    write_jsonl(project.path / "landing/a.jsonl", [{"v": 1}, {"v": 2}])
    write_jsonl(project.path / "landing/b.jsonl", [{"v": 1.5, "w": "x"}])
    assert project.run(once=True).ok
    assert project.query("SELECT count(*) FROM system.runs WHERE job = 'j'").fetchall() == [(1,)]
    assert project.query("SELECT typeof(v), v, w FROM bronze.m ORDER BY v").fetchall() == [
        ("DOUBLE", 1.0, None),
        ("DOUBLE", 1.5, "x"),
        ("DOUBLE", 2.0, None),
    ]


def test_schema_quarantine_checks_later_chunks_against_the_first(
    make_project: Callable[..., hw.Project],
) -> None:
    # No declared columns: the first chunk makes the table (two small files read together are
    # one chunk); a column a later chunk brings is not in it, so those records are quarantined,
    # in the same commit or a later one. An excluded column is never new.
    project = make_project(
        "CREATE FILES CONNECTION landing PATH = 'landing';\n"
        "CREATE JOB j ON_SCHEMA_CHANGE = QUARANTINE EXCLUDE_COLUMNS = (secret) "
        "AS COPY FROM landing INTO bronze.m;",
        toml="[run]\nbatch_bytes = 200\n",
    )
    write_jsonl(project.path / "landing/a.jsonl", [{"id": 1, "secret": "s1"}])
    write_jsonl(project.path / "landing/b.jsonl", [{"id": 2, "secret": "s2", "tag": "x"}])
    write_jsonl(project.path / "landing/c.jsonl", [{"id": 3, "pad": "p" * 150}, {"id": 4, "extra": 1}])
    assert project.run(once=True).ok
    write_jsonl(project.path / "landing/d.jsonl", [{"id": 5, "secret": "s5"}, {"id": 6, "more": 1}])
    assert project.run(once=True).ok
    assert project.query("SELECT id, tag FROM bronze.m ORDER BY id").fetchall() == [
        (1, None),
        (2, "x"),
        (5, None),
    ]
    assert project.query('SELECT "$source", reason FROM system.quarantine ORDER BY 1').fetchall() == [
        ("file:landing/c.jsonl:1", "columns not in bronze.m: pad"),
        ("file:landing/c.jsonl:2", "columns not in bronze.m: extra"),
        ("file:landing/d.jsonl:2", "columns not in bronze.m: more"),
    ]
    assert "secret" not in project.query("SELECT * FROM bronze.m").columns


def test_replay_after_a_fix_is_exactly_once(make_project: Callable[..., hw.Project]) -> None:
    project = project_with(
        make_project, expectations="WITH EXPECTATION known EXPECT status IN ('new') ON VIOLATION QUARANTINE"
    )
    (project.path / "landing/a.jsonl").write_text(
        '{"order_id": 1, "amount": 1, "status": "new"}\n'
        '{"order_id": 2, "amount": 2, "status": "paid"}\n'
        '{"order_id": 3, "amount": \n'
    )
    assert project.run(once=True).ok
    assert len(project.quarantine().rows()) == 2
    # The fix: 'paid' becomes a known status. The malformed line stays malformed.
    (project.path / "pipeline.sql").write_text(
        JOB.format(
            options="",
            expectations="WITH EXPECTATION known EXPECT status IN ('new', 'paid') ON VIOLATION QUARANTINE",
        )
    )
    result = project.replay_quarantine("load_orders")
    assert (result.replayed, result.written) == (2, 1)
    assert project.query('SELECT order_id, "$source" FROM bronze.orders ORDER BY 1').fetchall() == [
        (1, "file:landing/a.jsonl:1"),
        (2, "file:landing/a.jsonl:2"),
    ]
    pending = project.quarantine().rows()
    assert [(r["$source"], r["reason"]) for r in pending] == [("file:landing/a.jsonl:3", "malformed JSON")]
    assert project.replay_quarantine("load_orders").written == 0
    assert project.query("SELECT count(*) FROM bronze.orders").fetchall() == [(2,)]
    history = project.quarantine(include_replayed=True).rows()
    assert len(history) == 4 and sum(r["replayed_at"] is not None for r in history) == 3


def test_quarantine_commands(make_project: Callable[..., hw.Project]) -> None:
    import json
    import subprocess
    import sys

    project = project_with(
        make_project,
        options="COLUMN_TRANSFORMATIONS = (status = MASK(status, 1))",
        expectations="WITH EXPECTATION known EXPECT status IN ('new') ON VIOLATION QUARANTINE",
    )
    (project.path / "landing/a.jsonl").write_text(
        '{"order_id": 1, "amount": 1, "status": "new"}\n{"order_id": 2, "amount": 2, "status": "secret-ish"}\n{"x": \n'
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "headwater", *args, "-p", str(project.path)],
            capture_output=True,
            text=True,
        )

    assert cli("run", "--once").returncode == 0
    listed = sorted(json.loads(cli("quarantine", "list", "--json").stdout), key=lambda r: r["$source"])
    assert [r["reason"] for r in listed] == ["expectation known (QUARANTINE) failed", "malformed JSON"]
    assert "secret-ish" not in json.dumps(listed)  # stored transformed, or sealed
    assert listed[0]["raw"] == '{"order_id":2,"amount":2.0,"status":"*********h"}'
    sealed = cli("quarantine", "show", str(listed[1]["id"]))
    assert '{\\"x\\": ' not in sealed.stdout and "sealed" in sealed.stdout
    opened = cli("quarantine", "show", str(listed[1]["id"]), "--decrypt")
    assert json.loads(opened.stdout)[0]["raw"] == '{"x": '
    audit = project.query("SELECT action, detail FROM system.audit").fetchall()
    assert audit == [("quarantine.decrypt", f"record {listed[1]['id']} of job load_orders")]
    missing = cli("quarantine", "show", "424242")
    assert missing.returncode == 2 and "no quarantined record" in missing.stderr
    (project.path / "pipeline.sql").write_text(
        JOB.format(
            options="COLUMN_TRANSFORMATIONS = (status = MASK(status, 1))",
            expectations="WITH EXPECTATION known EXPECT length(status) > 0 ON VIOLATION QUARANTINE",
        )
    )
    replayed = cli("quarantine", "replay", "load_orders")
    assert replayed.returncode == 0 and "replayed 2 records" in replayed.stdout
    assert project.query("SELECT order_id, status FROM bronze.orders ORDER BY 1").fetchall() == [
        (1, "**w"),
        (2, "*********h"),
    ]


@pytest.mark.parametrize("mode", ["QUARANTINE", "FAIL"])
def test_a_new_key_in_a_nested_object_is_a_schema_change(
    tmp_path_factory: pytest.TempPathFactory, mode: str
) -> None:
    """A key the table's STRUCT lacks, one level down or deeper, in an object or a list's
    elements: the record does not fit (its value would be lost), never stored without it."""
    base = tmp_path_factory.mktemp(mode.lower())
    (base / "pipeline.sql").write_text(
        "CREATE FILES CONNECTION landing PATH = 'landing';\n"
        "CREATE TABLE bronze.orders (order_id BIGINT, customer STRUCT(id BIGINT, address STRUCT(city VARCHAR)), "
        "items STRUCT(sku VARCHAR)[]);\n"
        f"CREATE JOB load_orders ON_SCHEMA_CHANGE = {mode} AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders;\n"
    )
    fits = {"customer": {"id": 1, "address": {"city": "a"}}, "items": [{"sku": "s"}]}
    rows = [
        {"order_id": 1, **fits},
        {"order_id": 2, **fits, "customer": {"id": 2, "email": "e@x", "address": {"city": "b"}}},
        {"order_id": 3, **fits, "customer": {"id": 3, "address": {"city": "c", "zip": "75001"}}},
        {"order_id": 4, **fits, "items": [{"sku": "s"}, {"sku": "t", "qty": 2}]},
        {"order_id": 5, **fits},
    ]
    write_jsonl(base / "landing/a.jsonl", rows)
    project = hw.Project(base)
    result = project.run(once=True)
    if mode == "QUARANTINE":
        assert result.ok
        assert project.query("SELECT order_id FROM bronze.orders ORDER BY 1").fetchall() == [(1,), (5,)]
        got = project.query('SELECT "$source", reason FROM system.quarantine ORDER BY 1').fetchall()
        assert [s for s, _ in got] == [f"file:landing/a.jsonl:{n}" for n in (2, 3, 4)]
        assert all("a nested value has a key" in r for _, r in got)
    else:
        assert "ON_SCHEMA_CHANGE = FAIL" in result.failed_jobs["load_orders"]
        assert "file:landing/a.jsonl:2" in result.failed_jobs["load_orders"]
        assert project.query("SELECT count(*) FROM bronze.orders").fetchall() == [(0,)]


def test_a_nested_key_differing_only_in_case_is_quarantined_under_evolve(
    make_project: Callable[..., hw.Project],
) -> None:
    """`City` where the table's STRUCT has `city` (in an object, or in a list's objects) is no
    new field (no STRUCT holds both): the record is quarantined, the job keeps running."""
    project = make_project(
        "CREATE FILES CONNECTION landing PATH = 'landing';\n"
        "CREATE JOB j AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.events;"
    )
    write_jsonl(
        project.path / "landing/a.jsonl", [{"id": 1, "geo": {"p": {"city": "x"}}, "tags": [{"k": "a"}]}]
    )
    assert project.run(once=True).ok
    write_jsonl(
        project.path / "landing/b.jsonl",
        [
            {"id": 2, "geo": {"p": {"City": "y"}}, "tags": [{"k": "b"}]},
            {"id": 3, "geo": {"p": {"city": "z"}}, "tags": [{"K": "c"}]},
            {"id": 4, "geo": {"p": {"city": "w"}}, "tags": [{"k": "d"}]},
        ],
    )
    result = project.run(once=True)
    assert result.ok, result.failed_jobs
    assert project.query("SELECT id FROM bronze.events ORDER BY id").fetchall() == [(1,), (4,)]
    got = project.query('SELECT "$source", reason FROM system.quarantine ORDER BY 1').fetchall()
    assert [s for s, _ in got] == ["file:landing/b.jsonl:1", "file:landing/b.jsonl:2"]
    assert all("a nested value does not fit" in r for _, r in got)
