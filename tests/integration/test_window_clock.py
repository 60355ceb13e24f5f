"""`$commit_time` is the real time a row became visible, and `run --once` still processes
everything: windows that are not final run provisionally and are replaced when run again.

Results are checked against a reference computed in Python over the input records, and every
table's commit times against the wall clock."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

import headwater as hw
from tests.conftest import write_jsonl

PIPELINE = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE JOB load AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders;

CREATE JOB copy_orders RUN_INTERVAL = {interval} AS
INSERT INTO silver.orders
SELECT order_id, customer, amount FROM bronze.orders
WHERE $commit_time BETWEEN run_start_time() AND run_end_time() AND amount > 0;

CREATE JOB per_window RUN_INTERVAL = {interval} AS
INSERT INTO silver.per_window
SELECT run_start_time() AS window_start, count(*) AS n, sum(amount) AS total FROM silver.orders
WHERE $commit_time BETWEEN run_start_time() AND run_end_time();

CREATE JOB revenue RUN_INTERVAL = {interval} AS
MERGE INTO gold.revenue t
USING (SELECT customer, sum(amount) AS total, count(*) AS n FROM silver.orders
       WHERE $commit_time BETWEEN run_start_time() AND run_end_time() GROUP BY customer) s
ON t.customer = s.customer
WHEN MATCHED THEN UPDATE SET total = t.total + s.total, n = t.n + s.n
WHEN NOT MATCHED THEN INSERT (customer, total, n) VALUES (s.customer, s.total, s.n);
"""


def one(project: hw.Project, sql: str) -> tuple[object, ...]:
    rows = project.query(sql).fetchall()
    assert len(rows) == 1
    return tuple(rows[0])


TABLES = ("bronze.orders", "silver.orders", "silver.per_window", "gold.revenue")


def _orders(rng: random.Random, start: int, count: int) -> list[dict[str, object]]:
    return [
        {"order_id": i, "customer": f"c{rng.randrange(5)}", "amount": rng.randrange(-2, 20)}
        for i in range(start, start + count)
    ]


def _check(project: hw.Project, rows: list[dict[str, object]], ran_at: datetime) -> None:
    kept = [r for r in rows if int(r["amount"]) > 0]  # type: ignore[call-overload]
    ids = [r[0] for r in project.query("SELECT order_id FROM silver.orders ORDER BY order_id").fetchall()]
    assert ids == sorted(int(r["order_id"]) for r in kept)  # type: ignore[call-overload]
    # One row per window: a window run again replaced its earlier output.
    n, total, windows, distinct = one(
        project, "SELECT sum(n), sum(total), count(*), count(DISTINCT window_start) FROM silver.per_window"
    )
    assert (n, total) == (len(kept), sum(int(r["amount"]) for r in kept))  # type: ignore[call-overload]
    assert windows == distinct
    reference: dict[str, tuple[int, int]] = {}
    for r in kept:
        t, c = reference.get(str(r["customer"]), (0, 0))
        reference[str(r["customer"])] = (t + int(r["amount"]), c + 1)  # type: ignore[call-overload]
    got = {
        c: (int(t), int(k))
        for c, t, k in project.query("SELECT customer, total, n FROM gold.revenue").fetchall()
    }
    assert got == reference
    # No commit time is ahead of the clock.
    for table in TABLES:
        (latest,) = one(project, f'SELECT max("$commit_time") FROM {table}')
        assert latest <= ran_at  # type: ignore[operator], f"{table}: $commit_time {latest} is after the run ended ({ran_at})"
    # Commit times never go backwards: in the order of run ids, within every table.
    for table in TABLES:
        assert one(
            project,
            f'SELECT bool_and(t >= p) FROM (SELECT "$commit_time" AS t, '
            f'lag("$commit_time") OVER (ORDER BY "$run_id", "$commit_time") AS p FROM {table}) WHERE p IS NOT NULL',
        )[0] in (True, None)


@pytest.mark.parametrize("interval", ["1 SECOND", "1 MINUTE", "1 HOUR", "1 DAY"])
def test_repeated_once_runs_are_complete_and_never_ahead_of_the_clock(
    make_project: Callable[..., hw.Project], interval: str
) -> None:
    rng = random.Random(interval)
    project = make_project(PIPELINE.format(interval=interval))
    rows: list[dict[str, object]] = []
    for i in range(5):
        batch = _orders(rng, len(rows), rng.randrange(1, 30))
        rows += batch
        write_jsonl(project.path / f"landing/{i}.jsonl", batch)
        assert project.run(once=True).ok
        _check(project, rows, datetime.now(UTC))
        time.sleep(rng.random() * 0.6)
    statuses = {s for (s,) in project.query("SELECT DISTINCT status FROM system.runs").fetchall()}
    if interval != "1 SECOND":
        # Open windows ran provisionally and were replaced by the next run.
        assert {"provisional", "replaced"} <= statuses
    # A continuous run afterwards finishes the windows that have closed, and nothing is lost.
    if interval == "1 SECOND":
        more = _orders(rng, len(rows), 25)
        rows += more
        write_jsonl(project.path / "landing/late.jsonl", more)
        assert project.run(max_passes=4).ok
        _check(project, rows, datetime.now(UTC))
        assert one(project, "SELECT count(*) FROM headwater.provisional") == (0,)
        assert one(project, "SELECT count(*) FROM system.runs WHERE status = 'provisional'") == (0,)


def test_a_replaced_window_keeps_accounting_whole(make_project: Callable[..., hw.Project]) -> None:
    """Runs that were replaced are marked so; the others add up to the target's rows."""
    project = make_project(PIPELINE.format(interval="1 DAY"))
    rng = random.Random(7)
    rows = _orders(rng, 0, 40)
    write_jsonl(project.path / "landing/a.jsonl", rows)
    assert project.run(once=True).ok
    more = _orders(rng, 40, 40)
    write_jsonl(project.path / "landing/b.jsonl", more)
    assert project.run(once=True).ok
    live = one(
        project,
        "SELECT sum(rows_written) FROM system.runs WHERE job = 'copy_orders' AND status <> 'replaced'",
    )
    assert live == one(project, "SELECT count(*) FROM silver.orders")
    assert one(
        project, "SELECT count(*) FROM system.runs WHERE job = 'copy_orders' AND status = 'replaced'"
    ) == (1,)
    # Nothing new: the open windows' provisional output stands, nothing is written again.
    runs = one(project, "SELECT count(*) FROM system.runs")
    again = project.run(once=True)
    assert again.ok and again.rows_written == 0
    assert one(project, "SELECT count(*) FROM system.runs") == runs


def test_a_provisional_window_that_closes_unchanged_is_kept_not_rewritten(
    make_project: Callable[..., hw.Project],
) -> None:
    # (windows long enough that the first run, however slow the machine, ends before its
    # window does: the window must still be open, provisional, when that run ends)
    project = make_project(PIPELINE.format(interval="5 SECONDS"))
    write_jsonl(project.path / "landing/a.jsonl", _orders(random.Random(3), 0, 20))
    time.sleep(5 - time.time() % 5)  # at the start of a window
    assert project.run(once=True).ok
    time.sleep(10.1)  # every window the first run touched has closed since
    assert one(project, "SELECT count(*) > 0 FROM system.runs WHERE status = 'provisional'") == (True,)
    again = project.run(once=True)
    assert again.ok and again.rows_written == 0
    assert one(project, "SELECT count(*) FROM headwater.provisional") == (0,)
    assert one(project, "SELECT count(*) FROM system.runs WHERE status IN ('provisional', 'replaced')") == (
        0,
    )
