"""File ingestion through the API: formats, growth, positions, types, system columns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import headwater as hw
from headwater.observe.events import BatchCommitted, CaptureConsole
from tests.conftest import write_jsonl

ORDERS = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE TABLE bronze.orders;
CREATE JOB load_orders AS COPY FROM landing PATTERN = 'orders/*.jsonl' INTO bronze.orders;
"""


def test_jsonl_lands_with_system_columns_and_nested_structs(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(ORDERS)
    rows = [
        {
            "order_id": i,
            "amount": i + 0.5,
            "at": "2026-01-02T03:04:05Z",
            "customer": {"id": i % 3, "email": f"c{i}@x"},
        }
        for i in range(50)
    ]
    write_jsonl(project.path / "landing/orders/a.jsonl", rows)
    assert project.run(once=True).ok
    types = dict(project.query("SELECT column_name, column_type FROM (DESCRIBE bronze.orders)").fetchall())
    assert types["order_id"] == "BIGINT"
    assert types["at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["customer"].startswith("STRUCT")
    assert types["$source"] == "VARCHAR" and types["$run_id"] == "BIGINT"
    got = project.query(
        "SELECT order_id, customer.email, $source FROM bronze.orders WHERE order_id = 7"
    ).fetchall()
    assert got == [(7, "c7@x", "file:landing/orders/a.jsonl:8")]
    assert project.query(
        "SELECT count(*) FROM bronze.orders WHERE $event_time = $commit_time"
    ).fetchall() == [(50,)]


def test_growing_files_are_read_on_and_never_twice(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(ORDERS)
    path = project.path / "landing/orders/live.jsonl"
    write_jsonl(path, [{"order_id": i} for i in range(10)])
    assert project.run(once=True).ok
    # A writer is in the middle of a line: the complete lines are read, the tail waits...
    write_jsonl(path, [{"order_id": i} for i in range(10, 15)])
    with open(path, "a") as f:
        f.write('{"order_id": 1')
    console = CaptureConsole()
    hw.Project(project.path, console=console).run(once=False, max_passes=1)
    assert project.query("SELECT count(*), max(order_id) FROM bronze.orders").fetchall() == [(15, 14)]
    # ...until its newline arrives.
    with open(path, "a") as f:
        f.write("5}\n")
    write_jsonl(project.path / "landing/orders/new.jsonl", [{"order_id": 100}])
    assert project.run(once=True).ok
    assert project.query("SELECT count(*), count(DISTINCT order_id) FROM bronze.orders").fetchall() == [
        (17, 17)
    ]
    assert project.query("SELECT $source FROM bronze.orders WHERE order_id = 15").fetchall() == [
        ("file:landing/orders/live.jsonl:16",)
    ]
    # Nothing new: nothing read.
    console = CaptureConsole()
    assert hw.Project(project.path, console=console).run(once=True).ok
    assert console.of(BatchCommitted) == []


def test_a_drained_file_without_final_newline_is_read_whole(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(ORDERS)
    (project.path / "landing/orders").mkdir(parents=True)
    (project.path / "landing/orders/x.jsonl").write_text('{"order_id": 1}\n\n{"order_id": 2}')
    assert project.run(once=True).ok
    assert project.query("SELECT order_id, $source FROM bronze.orders ORDER BY 1").fetchall() == [
        (1, "file:landing/orders/x.jsonl:1"),
        (2, "file:landing/orders/x.jsonl:3"),
    ]
    runs = project.query("SELECT rows_read, rows_written FROM system.runs").fetchall()
    assert runs == [(2, 2)]


def test_csv_and_parquet(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load_c AS COPY FROM landing PATTERN = '*.csv' INTO bronze.customers;
        CREATE JOB load_p CONTENT_TYPE = PARQUET AS COPY FROM landing PATTERN = 'p/*' INTO bronze.payments;
        """
    )
    (project.path / "landing/c.csv").write_text("id,name,signup\n1,ann,2026-01-01\n2,bob,2026-01-02\n")
    (project.path / "landing/p").mkdir()
    pq.write_table(
        pa.table({"pid": [1, 2, 3], "amount": [1.5, 2.5, 3.5]}), project.path / "landing/p/one.data"
    )
    assert project.run(once=True).ok
    assert project.query(
        "SELECT id, name, signup::VARCHAR, $source FROM bronze.customers ORDER BY id"
    ).fetchall() == [
        (1, "ann", "2026-01-01", "file:landing/c.csv:2"),
        (2, "bob", "2026-01-02", "file:landing/c.csv:3"),
    ]
    assert project.query("SELECT sum(amount), max($source) FROM bronze.payments").fetchall() == [
        (7.5, "file:landing/p/one.data:3")
    ]
    with open(project.path / "landing/c.csv", "a") as f:
        f.write("3,cy,2026-01-03\n")
    assert project.run(once=True).ok
    assert project.query("SELECT count(*) FROM bronze.customers").fetchall() == [(3,)]


def test_declared_columns_are_enforced(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE TABLE bronze.orders (order_id BIGINT, amount DECIMAL(12,2));
        CREATE JOB load_orders AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders;
        """
    )
    write_jsonl(project.path / "landing/a.jsonl", [{"order_id": 1, "amount": "12.345", "extra": True}])
    assert project.run(once=True).ok
    types = dict(project.query("SELECT column_name, column_type FROM (DESCRIBE bronze.orders)").fetchall())
    assert types["amount"] == "DECIMAL(12,2)" and types["extra"] == "BOOLEAN"
    assert str(project.query("SELECT amount FROM bronze.orders").fetchall()[0][0]) == "12.35"


def test_malformed_lines_are_quarantined_with_source_and_reason(
    make_project: Callable[..., hw.Project],
) -> None:
    project = make_project(ORDERS)
    (project.path / "landing/orders").mkdir(parents=True)
    (project.path / "landing/orders/bad.jsonl").write_text(
        '{"order_id": 1}\n{"order_id": \n[1, 2]\n{"order_id": 4}\n'
    )
    assert project.run(once=True).ok
    assert project.query("SELECT order_id FROM bronze.orders ORDER BY 1").fetchall() == [(1,), (4,)]
    assert project.query('SELECT "$source", raw, reason FROM system.quarantine ORDER BY id').fetchall() == [
        ("file:landing/orders/bad.jsonl:2", '{"order_id": ', "malformed JSON"),
        ("file:landing/orders/bad.jsonl:3", "[1, 2]", "not a JSON object"),
    ]
    assert project.query("SELECT rows_read, rows_written, rows_quarantined FROM system.runs").fetchall() == [
        (4, 2, 2)
    ]


def test_start_from_now_skips_existing_files(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        ORDERS.replace("CREATE JOB load_orders", "CREATE JOB load_orders START_FROM = NOW")
    )
    write_jsonl(project.path / "landing/orders/old.jsonl", [{"order_id": 1}])
    assert project.run(once=True).ok
    write_jsonl(project.path / "landing/orders/old.jsonl", [{"order_id": 2}])
    write_jsonl(project.path / "landing/orders/new.jsonl", [{"order_id": 3}])
    assert project.run(once=True).ok
    assert project.query("SELECT order_id FROM bronze.orders ORDER BY 1").fetchall() == [(2,), (3,)]


def test_env_in_path_and_missing_folder(
    make_project: Callable[..., hw.Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(ORDERS.replace("PATH = 'landing'", "PATH = '${HW_TEST_LANDING}'"))
    monkeypatch.setenv("HW_TEST_LANDING", str(project.path / "landing"))
    write_jsonl(project.path / "landing/orders/a.jsonl", [{"order_id": 1}])
    assert project.run(once=True).ok
    monkeypatch.setenv("HW_TEST_LANDING", str(project.path / "nowhere"))
    result = project.run(once=True)
    assert "does not exist" in result.failed_jobs["load_orders"]


def test_second_run_is_refused_while_one_holds_the_lock(
    make_project: Callable[..., hw.Project], tmp_path: Path
) -> None:
    from headwater.runner.errors import AlreadyRunning
    from headwater.runner.loop import project_lock

    project = make_project(ORDERS)
    with project_lock(project.state_dir), pytest.raises(AlreadyRunning, match="already running"):
        project.run(once=True)
    assert project.run(once=True).ok


def test_a_file_name_that_is_not_utf8_is_read_once(make_project: Callable[..., hw.Project]) -> None:
    """Its bytes show as \\xNN in $source and positions; a second run finds nothing new."""
    project = make_project(
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.t;
        """
    )
    raw_name = bytes(project.path / "landing") + b"/caf\xe9.jsonl"
    with open(raw_name, "wb") as f:
        f.write(b'{"a": 1}\n{"a": 2}\n')
    assert project.run(once=True).ok
    stored = project.query('SELECT a, "$source" FROM bronze.t ORDER BY a').fetchall()
    assert stored == [(1, "file:landing/caf\\xe9.jsonl:1"), (2, "file:landing/caf\\xe9.jsonl:2")]
    assert project.run(once=True).rows_written == 0


def test_a_batch_never_holds_more_than_batch_bytes(make_project: Callable[..., hw.Project]) -> None:
    """Each file is 600-odd bytes and batch_bytes 1,000: two files would be a batch past its
    size (held in memory until it commits), so each is a commit of its own."""
    project = make_project(ORDERS, toml="[run]\nbatch_bytes = 1000\n")
    sizes = {}
    for name in "abc":
        path = project.path / f"landing/orders/{name}.jsonl"
        write_jsonl(path, [{"order_id": i, "file": name, "pad": "x" * 20} for i in range(15)])
        sizes[name] = path.stat().st_size
    assert all(500 < size < 1000 for size in sizes.values())
    console = CaptureConsole()
    assert hw.Project(project.path, console=console).run(once=True).ok
    commits = [e for e in console.events if isinstance(e, BatchCommitted)]
    assert [c.rows_written for c in commits] == [15, 15, 15]
    assert (
        project.query(
            "SELECT count(DISTINCT file), count(*) FROM bronze.orders GROUP BY $run_id ORDER BY $run_id"
        ).fetchall()
        == [(1, 15)] * 3
    )


def test_a_rare_key_far_from_the_sample_of_a_known_table_is_kept(
    make_project: Callable[..., hw.Project],
) -> None:
    """Once the table has columns, a chunk is planned from a small sample; a record with a key
    the sample lacks (top level, or deep in a nested object) is still stored whole."""
    project = make_project(ORDERS)
    first = [
        {"order_id": i, "customer": {"id": i, "address": {"city": "a"}}, "items": [{"sku": "a"}]}
        for i in range(10)
    ]
    write_jsonl(project.path / "landing/orders/a.jsonl", first)
    assert project.run(once=True).ok
    rows: list[dict[str, object]] = [
        {"order_id": i, "customer": {"id": i, "address": {"city": "b"}}, "items": [{"sku": "b"}]}
        for i in range(50_000)
    ]
    rows[30_000]["coupon"] = "X1"  # line 30,001: neither among the first lines nor on the stride
    rows[40_002]["customer"]["address"]["zip"] = "75001"  # type: ignore[index]
    rows[45_002]["items"] = [{"sku": "c"}, {"sku": "d", "qty": 2}]
    write_jsonl(project.path / "landing/orders/b.jsonl", rows)
    assert project.run(once=True).ok
    got = project.query(
        "SELECT count(*), count(coupon), max(coupon), count(customer.address.zip), max(customer.address.zip), "
        "max(order_id) FILTER (WHERE coupon IS NOT NULL), max(order_id) FILTER (WHERE customer.address.zip IS NOT NULL), "
        "max(order_id) FILTER (WHERE items[2].qty = 2) FROM bronze.orders"
    ).fetchall()
    assert got == [(50_010, 1, "X1", 1, "75001", 30_000, 40_002, 45_002)]
