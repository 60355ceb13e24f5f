"""SYNC jobs and watermarks, through the command line: a SYNC join of two streams waits until
both sides have completed a window (a job without SYNC moves on with what has been committed),
watermarks are committed with their batch, rows that arrive for a completed window are written
and counted late, and a declared table exists (and can be queried, and joined) before its
first rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headwater.cli.app import app
from tests.conftest import write_jsonl

STREAMS = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE TABLE bronze.orders;
CREATE TABLE bronze.payments (order_id BIGINT, amount DECIMAL(12, 2), at TIMESTAMPTZ);
CREATE SYNC JOB load_orders EVENT_TIME = at AS COPY FROM landing PATTERN = 'orders*.jsonl' INTO bronze.orders;
CREATE SYNC JOB load_payments EVENT_TIME = at LATENESS = {lateness}
AS COPY FROM landing PATTERN = 'payments*.jsonl' INTO bronze.payments;

-- Each order with what was paid for it (payments within the same minute).
CREATE SYNC JOB paid_orders RUN_INTERVAL = 1 MINUTE AS
INSERT INTO silver.paid_orders
SELECT o.id, o.$event_time AS ordered_at, sum(p.amount) AS paid
FROM bronze.orders o LEFT JOIN bronze.payments p
  ON p.order_id = o.id AND p.$event_time BETWEEN run_start_time() AND run_end_time()
WHERE o.$event_time BETWEEN run_start_time() AND run_end_time()
GROUP BY ALL;

-- The same join without SYNC: windows of commit time, run on whatever has been committed.
CREATE JOB paid_orders_now RUN_INTERVAL = 1 SECOND AS
INSERT INTO silver.paid_orders_now
SELECT o.id, sum(p.amount) AS paid
FROM bronze.orders o LEFT JOIN bronze.payments p ON p.order_id = o.id
WHERE o.$commit_time BETWEEN run_start_time() AND run_end_time()
GROUP BY ALL;
"""


def hw(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def query(project: Path, sql: str) -> list[dict[str, Any]]:
    code, out = hw("query", "-p", project, sql, "--format", "json")
    assert code == 0, out
    return json.loads(out)  # type: ignore[no-any-return]


def run_once(project: Path) -> str:
    code, out = hw("run", "--once", "-p", project)
    assert code == 0, out
    return out


def status(project: Path) -> dict[str, dict[str, Any]]:
    code, out = hw("status", "-p", project, "--format", "json")
    assert code == 0, out
    return {row["name"]: row for row in json.loads(out)}


def make(tmp_path: Path, sql: str) -> Path:
    (tmp_path / "landing").mkdir()
    (tmp_path / "pipeline.sql").write_text(sql)
    return tmp_path


def order(i: int, at: str) -> dict[str, object]:
    return {"id": i, "at": f"2026-11-02T{at}Z"}


def payment(i: int, amount: float, at: str) -> dict[str, object]:
    return {"order_id": i, "amount": amount, "at": f"2026-11-02T{at}Z"}


def test_a_declared_table_exists_from_deploy_on(tmp_path: Path) -> None:
    project = make(
        tmp_path,
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE TABLE bronze.orders (id BIGINT);
        CREATE TABLE bronze.payments;
        CREATE JOB load_orders AS COPY FROM landing PATTERN = 'orders*.jsonl' INTO bronze.orders;
        CREATE JOB load_payments AS COPY FROM landing PATTERN = 'payments*.jsonl' INTO bronze.payments;
        CREATE JOB paid_orders RUN_INTERVAL = 1 MINUTE AS
        INSERT INTO silver.paid_orders
        SELECT o.id, p.amount FROM bronze.orders o LEFT JOIN bronze.payments p ON p.order_id = o.id
        WHERE o.$commit_time BETWEEN run_start_time() AND run_end_time();
        """,
    )
    write_jsonl(project / "landing/orders.jsonl", [{"id": 1}, {"id": 2}])
    out = run_once(project)
    # Before its first rows: it can be queried (its system columns), and the job joining it
    # waits instead of failing the run.
    assert query(project, "SELECT count(*) AS n FROM bronze.payments") == [{"n": 0}]
    columns = query(project, "SELECT column_name FROM (DESCRIBE bronze.payments)")
    assert [c["column_name"] for c in columns] == ["$event_time", "$commit_time", "$source", "$run_id"]
    assert "paid_orders: skipped, waiting for the first rows of bronze.payments" in out
    # The first data adds its columns; the job then joins.
    write_jsonl(project / "landing/payments.jsonl", [{"order_id": 1, "amount": 5}])
    run_once(project)
    assert query(project, "SELECT id, amount FROM silver.paid_orders ORDER BY id") == [
        {"id": 1, "amount": 5},
        {"id": 2, "amount": None},
    ]
    assert query(project, "SELECT order_id, amount FROM bronze.payments") == [{"order_id": 1, "amount": 5}]


def test_a_sync_join_waits_for_both_watermarks_a_job_without_sync_moves_on(tmp_path: Path) -> None:
    project = make(tmp_path, STREAMS.format(lateness="0 SECONDS"))
    # Orders are delivered first.
    write_jsonl(
        project / "landing/orders-1.jsonl", [order(1, "10:00:10"), order(2, "10:00:40"), order(3, "10:01:30")]
    )
    out = run_once(project)
    assert "paid_orders: skipped, waiting for a watermark of SYNC job load_payments (its first rows)" in out
    time.sleep(1.1)  # the job without SYNC: its commit-time window closes
    run_once(project)
    # SYNC: nothing yet (its target does not even exist). Without SYNC: each order, unpaid, for good.
    assert query(project, "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'paid_orders'") == [
        {"n": 0}
    ]
    assert query(project, "SELECT id, paid FROM silver.paid_orders_now ORDER BY id") == [
        {"id": 1, "paid": None},
        {"id": 2, "paid": None},
        {"id": 3, "paid": None},
    ]
    # Then the payments, up to 10:02:10; the orders' watermark is at 10:01:30. The first
    # window (10:00 - 10:01) is complete on both sides and runs, whole; the next waits.
    write_jsonl(
        project / "landing/payments-1.jsonl",
        [
            payment(1, 5, "10:00:20"),
            payment(2, 3, "10:00:50"),
            payment(2, 4, "10:00:55"),
            payment(3, 9, "10:01:31"),
            payment(8, 1, "10:02:10"),
        ],
    )
    run_once(project)
    assert query(project, "SELECT id, paid FROM silver.paid_orders ORDER BY id") == [
        {"id": 1, "paid": 5},
        {"id": 2, "paid": 7},
    ]
    marks = {m["name"]: m["watermark"] for m in status(project).values()}
    assert marks["load_orders"] == "2026-11-02T10:01:30+00:00"
    assert marks["load_payments"] == "2026-11-02T10:02:10+00:00"
    assert marks["paid_orders"] == "2026-11-02T10:01:00+00:00"
    assert marks["paid_orders_now"] is None
    # Once the orders' watermark passes 10:02, the second window runs too.
    write_jsonl(project / "landing/orders-2.jsonl", [order(4, "10:02:05")])
    run_once(project)
    assert query(project, "SELECT id, paid FROM silver.paid_orders ORDER BY id") == [
        {"id": 1, "paid": 5},
        {"id": 2, "paid": 7},
        {"id": 3, "paid": 9},
    ]
    # The job without SYNC never joined a payment: it had moved on.
    assert query(project, "SELECT count(paid) AS n FROM silver.paid_orders_now") == [{"n": 0}]
    windows = query(
        project,
        "SELECT window_start, window_end, status FROM system.runs WHERE job = 'paid_orders' ORDER BY run_id",
    )
    assert [(w["window_start"], w["status"]) for w in windows] == [
        ("2026-11-02T10:00:00+00:00", "succeeded"),
        ("2026-11-02T10:01:00+00:00", "succeeded"),
    ]


def test_lateness_holds_the_watermark_back_and_late_rows_are_written_and_counted(tmp_path: Path) -> None:
    project = make(tmp_path, STREAMS.format(lateness="30 SECONDS"))
    write_jsonl(project / "landing/orders-1.jsonl", [order(1, "10:00:10"), order(2, "10:05:00")])
    write_jsonl(project / "landing/payments-1.jsonl", [payment(1, 5, "10:01:20")])
    run_once(project)
    # No watermark before any data; then the largest event time minus LATENESS.
    marks = {m["job"]: m for m in query(project, "SELECT * FROM system.watermarks")}
    assert marks["load_payments"]["max_event_time"] == "2026-11-02T10:01:20+00:00"
    assert marks["load_payments"]["watermark"] == "2026-11-02T10:00:50+00:00"
    assert query(project, "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'paid_orders'") == [
        {"n": 0}
    ]
    write_jsonl(project / "landing/payments-2.jsonl", [payment(1, 2, "10:01:40")])
    run_once(project)
    assert query(project, "SELECT id, paid FROM silver.paid_orders") == [{"id": 1, "paid": None}]
    # A payment for the window paid_orders has completed: written, counted late, not joined.
    write_jsonl(project / "landing/payments-3.jsonl", [payment(1, 1, "10:00:30"), payment(7, 1, "10:04:00")])
    run_once(project)
    assert query(project, "SELECT count(*) AS n FROM bronze.payments WHERE order_id = 1") == [{"n": 3}]
    late = query(
        project,
        "SELECT rows_read, rows_written, rows_late FROM system.runs WHERE job = 'load_payments' ORDER BY run_id",
    )
    assert late == [
        {"rows_read": 1, "rows_written": 1, "rows_late": 0},
        {"rows_read": 1, "rows_written": 1, "rows_late": 0},
        {"rows_read": 2, "rows_written": 2, "rows_late": 1},
    ]
    assert status(project)["load_payments"]["rows_late"] == 1
    assert query(project, "SELECT id, paid FROM silver.paid_orders") == [{"id": 1, "paid": None}]
    # The windows in between held no rows: paid_orders completed them as the watermarks passed.
    assert status(project)["paid_orders"]["watermark"] == "2026-11-02T10:03:00+00:00"


def test_a_sync_job_waits_for_sync_jobs_upstream_of_its_inputs(tmp_path: Path) -> None:
    project = make(
        tmp_path,
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE SYNC JOB load_a EVENT_TIME = at AS COPY FROM landing PATTERN = 'a*.jsonl' INTO bronze.a;
        CREATE SYNC JOB load_b EVENT_TIME = at AS COPY FROM landing PATTERN = 'b*.jsonl' INTO bronze.b;
        CREATE SYNC JOB clean_a RUN_INTERVAL = 1 HOUR AS INSERT INTO silver.a
        SELECT id, $event_time FROM bronze.a WHERE $event_time BETWEEN run_start_time() AND run_end_time();
        CREATE SYNC JOB joined RUN_INTERVAL = 1 MINUTE AS INSERT INTO gold.joined
        SELECT a.id, b.v FROM silver.a a JOIN bronze.b b USING (id)
        WHERE a.$event_time BETWEEN run_start_time() AND run_end_time();
        """,
    )
    write_jsonl(project / "landing/a1.jsonl", [order(1, "10:00:10"), order(2, "11:00:10")])
    write_jsonl(project / "landing/b1.jsonl", [{"id": 1, "v": "x", "at": "2026-11-02T12:00:00Z"}])
    run_once(project)
    # load_a is at 11:00:10: clean_a completed 10:00 - 11:00, and joined the minutes up to 11:00,
    # though load_b is further on.
    marks = {n: s["watermark"] for n, s in status(project).items()}
    assert marks["clean_a"] == marks["joined"] == "2026-11-02T11:00:00+00:00"
    assert query(project, "SELECT id, v FROM gold.joined") == [{"id": 1, "v": "x"}]


def test_a_watermark_commits_with_its_batch(tmp_path: Path) -> None:
    project = make(tmp_path, STREAMS.format(lateness="0 SECONDS"))
    write_jsonl(project / "landing/orders-1.jsonl", [order(1, "10:00:10")])
    run_once(project)
    write_jsonl(project / "landing/orders-2.jsonl", [order(2, "10:09:00")])
    code = "import sys, headwater; headwater.Project(sys.argv[1]).run(once=True)"
    crashed = subprocess.run(
        [sys.executable, "-c", code, str(project)],
        env={**os.environ, "HEADWATER_FAILPOINT": "ingest.before_commit"},
    )
    assert crashed.returncode == -signal.SIGKILL
    # Neither the rows nor the watermark of the batch that did not commit.
    assert query(project, "SELECT watermark FROM system.watermarks WHERE job = 'load_orders'") == [
        {"watermark": "2026-11-02T10:00:10+00:00"}
    ]
    run_once(project)
    assert query(project, "SELECT watermark FROM system.watermarks WHERE job = 'load_orders'") == [
        {"watermark": "2026-11-02T10:09:00+00:00"}
    ]
    assert query(project, "SELECT count(*) AS n FROM bronze.orders") == [{"n": 2}]


def test_a_sync_job_that_filters_on_commit_time_is_refused(tmp_path: Path) -> None:
    project = make(
        tmp_path,
        """
        CREATE TABLE bronze.a;
        CREATE SYNC JOB j AS INSERT INTO silver.a
        SELECT * FROM bronze.a WHERE $commit_time BETWEEN run_start_time() AND run_end_time();
        """,
    )
    code, out = hw("validate", "-p", project)
    assert code == 2
    assert "pipeline.sql:3:9: SYNC job 'j' filters its window on $commit_time" in out
    assert "$event_time BETWEEN run_start_time() AND run_end_time()" in out


def test_a_lake_from_before_gets_the_watermarks_table_and_its_declared_tables(tmp_path: Path) -> None:
    project = make(tmp_path, STREAMS.format(lateness="0 SECONDS"))
    run_once(project)
    import headwater

    with headwater.Project(project).open_lake() as lake:  # a lake from before watermarks, where
        lake.execute("DROP VIEW lake.system.watermarks")  # a table declared without columns
        lake.execute("DROP TABLE lake.headwater.watermark_status")
        lake.execute("DROP TABLE lake.bronze.orders")  # was created by its first rows
    run_once(project)
    assert query(project, "SELECT count(*) AS n FROM bronze.orders") == [{"n": 0}]
    write_jsonl(project / "landing/orders-1.jsonl", [order(1, "10:00:10")])
    run_once(project)
    assert status(project)["load_orders"]["watermark"] == "2026-11-02T10:00:10+00:00"


@pytest.mark.parametrize("sync", ["", "SYNC "])
def test_merge_applies_several_rows_of_a_key_in_source_order(tmp_path: Path, sync: str) -> None:
    column = "$event_time" if sync else "$commit_time"
    project = make(
        tmp_path,
        f"""
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE {sync}JOB load EVENT_TIME = at AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.changes;
        CREATE {sync}JOB latest RUN_INTERVAL = 1 DAY AS
        MERGE INTO silver.accounts t
        USING (SELECT account, balance, deleted, seq FROM bronze.changes
               WHERE {column} BETWEEN run_start_time() AND run_end_time() ORDER BY seq) s
        ON t.account = s.account
        WHEN MATCHED AND s.deleted THEN DELETE
        WHEN MATCHED THEN UPDATE SET balance = s.balance, changes = t.changes + 1
        WHEN NOT MATCHED AND NOT s.deleted THEN INSERT (account, balance, changes) VALUES (s.account, s.balance, 1);
        """,
    )

    def change(seq: int, account: str, balance: int, deleted: bool = False) -> dict[str, object]:
        return {
            "seq": seq,
            "account": account,
            "balance": balance,
            "deleted": deleted,
            "at": "2026-11-02T10:00:00Z",
        }

    rows = [
        change(1, "a", 10),
        change(2, "b", 5),
        change(3, "a", 20),
        change(4, "c", 1),
        change(5, "a", 30),
        change(6, "b", 0, deleted=True),
        change(7, "c", 2),
        change(8, "b", 7),
    ]
    write_jsonl(project / "landing/changes.jsonl", rows[4:] + rows[:4])  # (source order: seq)
    if sync:
        write_jsonl(project / "landing/later.jsonl", [{**change(9, "z", 0), "at": "2026-11-03T10:00:00Z"}])
    run_once(project)
    assert query(project, "SELECT account, balance, changes FROM silver.accounts ORDER BY account") == [
        {"account": "a", "balance": 30, "changes": 3},
        {"account": "b", "balance": 7, "changes": 1},
        {"account": "c", "balance": 2, "changes": 2},
    ]
    (run,) = query(
        project, "SELECT rows_read, rows_written, rows_dropped FROM system.runs WHERE job = 'latest'"
    )
    assert run == {"rows_read": 8, "rows_written": 8, "rows_dropped": 0}


def test_merge_of_a_new_key_given_three_times_in_a_window_inserts_it_once(tmp_path: Path) -> None:
    project = make(
        tmp_path,
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.visits;
        CREATE JOB visits RUN_INTERVAL = 1 DAY AS
        MERGE INTO silver.visits t
        USING (SELECT page, seq FROM bronze.visits
               WHERE $commit_time BETWEEN run_start_time() AND run_end_time() ORDER BY seq) s
        ON t.page = s.page
        WHEN MATCHED THEN UPDATE SET visits = t.visits + 1, last_seq = s.seq
        WHEN NOT MATCHED THEN INSERT (page, visits, last_seq) VALUES (s.page, 1, s.seq);
        """,
    )
    write_jsonl(project / "landing/a.jsonl", [{"page": p, "seq": i} for i, p in enumerate("abaca")])
    run_once(project)
    assert query(project, "SELECT page, visits, last_seq FROM silver.visits ORDER BY page") == [
        {"page": "a", "visits": 3, "last_seq": 4},
        {"page": "b", "visits": 1, "last_seq": 1},
        {"page": "c", "visits": 1, "last_seq": 3},
    ]


def test_without_event_time_a_watermark_is_the_time_the_source_was_read_up_to(tmp_path: Path) -> None:
    project = make(
        tmp_path,
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE SYNC JOB load AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.clicks;
        CREATE SYNC JOB per_second RUN_INTERVAL = 1 SECOND AS INSERT INTO silver.per_second
        SELECT run_start_time() AS second, count(*) AS clicks FROM bronze.clicks
        WHERE $event_time BETWEEN run_start_time() AND run_end_time();
        """,
    )
    write_jsonl(project / "landing/a.jsonl", [{"page": "a"}, {"page": "b"}])
    run_once(project)
    # The watermark is the commit's time: the second the rows landed in has not ended yet.
    (committed,) = query(project, 'SELECT max("$commit_time") AS at FROM bronze.clicks')
    assert status(project)["load"]["watermark"] == committed["at"]
    time.sleep(1.2)
    # Nothing new, but the folder was read to its end again: that second is complete.
    run_once(project)
    assert query(project, "SELECT sum(clicks) AS n FROM silver.per_second") == [{"n": 2}]


def test_replay_of_a_sync_job_reads_the_late_rows_of_its_event_time_windows(tmp_path: Path) -> None:
    """A SYNC job's windows are of $event_time: `replay` runs them again over the rows that
    arrived late for them (committed long after), and a SYNC job downstream follows from the
    window of the replaced rows' event time, not of their commit time."""
    project = make(
        tmp_path,
        STREAMS.format(lateness="0 SECONDS")
        + """
CREATE SYNC JOB paid_totals RUN_INTERVAL = 1 MINUTE AS
INSERT INTO gold.paid_totals
SELECT count(*) AS orders, sum(paid) AS paid FROM silver.paid_orders
WHERE $event_time BETWEEN run_start_time() AND run_end_time();
""",
    )
    write_jsonl(
        project / "landing/orders-1.jsonl", [order(1, "10:00:10"), order(2, "10:00:20"), order(3, "10:02:00")]
    )
    write_jsonl(project / "landing/payments-1.jsonl", [payment(1, 5, "10:00:40"), payment(3, 4, "10:02:30")])
    run_once(project)
    before = query(project, "SELECT id, paid FROM silver.paid_orders ORDER BY id")
    assert before == [{"id": 1, "paid": 5}, {"id": 2, "paid": None}]
    assert query(project, "SELECT orders, paid FROM gold.paid_totals") == [{"orders": 2, "paid": 5}]
    # Order 2's payment arrives after paid_orders completed its window: written, counted late.
    write_jsonl(project / "landing/payments-2.jsonl", [payment(2, 3, "10:00:50")])
    run_once(project)
    assert query(project, "SELECT sum(rows_late) AS n FROM system.runs WHERE job = 'load_payments'") == [
        {"n": 1}
    ]
    assert query(project, "SELECT id, paid FROM silver.paid_orders ORDER BY id") == before
    code, out = hw("replay", "paid_orders", "--from", "2026-11-02T10:00:00Z", "-p", project)
    assert code == 0, out
    # As an independent join of the files over the windows completed (10:00 and 10:01):
    expected = [{"id": 1, "paid": 5}, {"id": 2, "paid": 3}]
    assert query(project, "SELECT id, paid FROM silver.paid_orders ORDER BY id") == expected
    assert query(project, "SELECT orders, paid FROM gold.paid_totals") == [{"orders": 2, "paid": 8}]
    replaced = query(
        project,
        "SELECT job, count(*) AS n FROM system.runs WHERE status = 'replaced' "
        "AND job IN ('paid_orders', 'paid_totals') GROUP BY job ORDER BY job",
    )
    assert replaced == [{"job": "paid_orders", "n": 1}, {"job": "paid_totals", "n": 1}]


def test_a_query_of_a_target_not_written_yet_says_which_job_writes_it(tmp_path: Path) -> None:
    project = make(tmp_path, STREAMS.format(lateness="0 SECONDS"))
    write_jsonl(project / "landing/orders-1.jsonl", [order(1, "10:00:10")])
    run_once(project)  # (paid_orders waits for the payments' watermark: no rows, no table yet)
    code, out = hw("query", "-p", project, "SELECT * FROM silver.paid_orders")
    assert code == 2, out
    assert "silver.paid_orders is created by job paid_orders with the first rows it writes" in out
    assert "Traceback" not in out
    code, out = hw("query", "-p", project, "SELECT * FROM silver.unknown")
    assert code == 2 and "does not exist" in out and "created by job" not in out, out
