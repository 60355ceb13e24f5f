"""Incremental materialized views: a refresh after a 1% append against a full recompute.

    python bench/incremental.py [--rows N] [--append-share S] [--repeat R] [--trace]

Fills a silver table of N orders (default 10,000,000, a year of them, in time order) and a
dimension table of 100,000 customers in a fresh project's lake, then times, in one process:

  a. the full recompute of the gold view (its first computation: the view's rows and the
     state it refreshes from);
  b. the same query run directly in DuckDB on the same lake: ``CREATE TABLE ... AS <query>``
     (what recomputing the view costs without any state);
  c. after appending S of N new orders (default 1%, the next days'), the view's incremental
     refresh from the change feed; R times (default 3), each after its own append, and the
     median is shown.

  d. after as many appends again, the same refresh written by hand for this view: the
     statements it needs and nothing else (no bookkeeping, no decision, no run record), run
     directly in DuckDB on the same state tables: what any refresh from the change feed costs
     on this lake, the floor under (c).

The gold view groups by day and country (a dimension join), with count, sum and
count(DISTINCT). It checks that the view equals its query after the last (c) and after the last
(d), and prints the times and the ratios c/a (target: at most 3%), c/b, d/a and c/d.
``--trace`` also prints each SQL statement of the last refresh, in order, with its time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine

import headwater as hw
from headwater.observe.events import CaptureConsole, ViewRefreshed
from headwater.runner.context import RunContext
from headwater.runner.views import refresh_view

CUSTOMERS = 100_000
QUERY = """SELECT CAST(o.ordered_at AS DATE) AS day, c.country, count(*) AS orders, sum(o.amount) AS revenue,
       count(DISTINCT o.customer_id) AS customers
FROM silver.orders o JOIN silver.customers c ON c.customer_id = o.customer_id
GROUP BY day, c.country"""
PROJECT = f"""
CREATE TABLE silver.orders (order_id BIGINT, customer_id INTEGER, amount DECIMAL(12, 2), ordered_at TIMESTAMP);
CREATE TABLE silver.customers (customer_id INTEGER, country VARCHAR, segment VARCHAR);
CREATE MATERIALIZED VIEW gold.daily_sales AS
{QUERY};
"""
YEAR_SECONDS = 365 * 86_400


def orders_sql(first: int, n: int, total: int) -> str:
    """``n`` orders from id ``first``: a customer, an amount, and a time that grows with the
    id (``total`` orders span a year), as a silver table filled in time order holds them."""
    return (
        "INSERT INTO silver.orders (order_id, customer_id, amount, ordered_at) "
        f"SELECT i, 1 + hash(i) % {CUSTOMERS}, CAST((hash(i * 7) % 100000) / 100 AS DECIMAL(12, 2)), "
        f"TIMESTAMP '2025-01-01' + to_seconds(CAST(i * {YEAR_SECONDS / total} AS BIGINT)) "
        f"FROM range({first}, {first + n}) t(i)"
    )


STATE = "lake.headwater.view_state__gold__daily_sales"  # (runner.incremental.state_table)
PAIRS = STATE + "__d2"  # the (day, country, customer_id) set of count(DISTINCT)
VIEW = "lake.gold.daily_sales"


def hand_refresh(lake: Any, since: int) -> int:
    """(d): the view's refresh from the changes of silver.orders after snapshot ``since``, as
    hand-written SQL over the same state tables (the columns ``runner.view_sql`` gives them:
    ``__hw_n`` rows, ``__hw_a0`` count(*), ``__hw_a1``/``__hw_c1`` sum(amount) and its count,
    ``__hw_a2`` count(DISTINCT customer_id)). Returns the snapshot it read."""
    con = lake.con
    con.execute("BEGIN TRANSACTION")
    (snapshot,) = con.execute("SELECT id FROM lake.current_snapshot()").fetchone()
    rows = (
        "SELECT CAST(o.ordered_at AS DATE) AS day, c.country, o.amount, o.customer_id "
        f"FROM ducklake_table_insertions('lake', 'silver', 'orders', {since + 1}, {snapshot}) o "
        "JOIN silver.customers c ON c.customer_id = o.customer_id"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE d_delta AS SELECT day, country, count(*) AS n, sum(amount) AS a1, "
        f"count(amount) AS c1 FROM ({rows}) GROUP BY ALL"
    )
    bounds = con.execute("SELECT min(day), max(day) FROM d_delta").fetchone()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE d_pairs AS SELECT r.* FROM (SELECT DISTINCT day, country, "
        f"customer_id AS __hw_v FROM ({rows}) WHERE customer_id IS NOT NULL) r ANTI JOIN (SELECT day, country, "
        f"__hw_v FROM {PAIRS} WHERE day BETWEEN ? AND ?) p "
        "ON p.day = r.day AND p.country IS NOT DISTINCT FROM r.country AND p.__hw_v = r.__hw_v",
        list(bounds),
    )
    con.execute(f"INSERT INTO {PAIRS} SELECT * FROM d_pairs")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE d_merged AS SELECT d.day, d.country, coalesce(s.__hw_n, 0) + d.n AS __hw_n, "
        "coalesce(s.__hw_a0, 0) + d.n AS __hw_a0, coalesce(s.__hw_a1, 0) + coalesce(d.a1, 0) AS __hw_a1, "
        "coalesce(s.__hw_c1, 0) + d.c1 AS __hw_c1, coalesce(s.__hw_a2, 0) + coalesce(p.n, 0) AS __hw_a2 "
        f"FROM d_delta d LEFT JOIN {STATE} s ON s.day = d.day AND s.country IS NOT DISTINCT FROM d.country "
        "LEFT JOIN (SELECT day, country, count(*) AS n FROM d_pairs GROUP BY ALL) p "
        "ON p.day = d.day AND p.country IS NOT DISTINCT FROM d.country"
    )
    match = "{t}.day = m.day AND {t}.country IS NOT DISTINCT FROM m.country"
    con.execute(f"DELETE FROM {STATE} USING d_merged m WHERE {match.format(t=STATE)}")
    con.execute(f"INSERT INTO {STATE} BY NAME SELECT * FROM d_merged")
    con.execute(f"DELETE FROM {VIEW} USING d_merged m WHERE {match.format(t=VIEW)}")
    con.execute(
        f"INSERT INTO {VIEW} BY NAME SELECT day, country, CAST(__hw_a0 AS BIGINT) AS orders, "
        "CASE WHEN __hw_c1 = 0 THEN NULL ELSE __hw_a1 END AS revenue, CAST(__hw_a2 AS BIGINT) AS customers, "
        'now() AS "$event_time", now() AS "$commit_time", \'bench\' AS "$source", 0 AS "$run_id" FROM d_merged'
    )
    con.execute("COMMIT")
    for temp in ("d_delta", "d_pairs", "d_merged"):
        con.execute(f"DROP TABLE temp.{temp}")
    return int(snapshot)


class StatementLog:
    """Wraps the lake's DuckDB connection to time each statement while ``on`` (--trace)."""

    def __init__(self, con: Any) -> None:
        self._con, self.on, self.log = con, False, []  # type: ignore[var-annotated]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def _timed(self, method: str, sql: str, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return getattr(self._con, method)(sql, *args)
        finally:
            if self.on:
                self.log.append((time.perf_counter() - started, " ".join(sql.split())))

    def execute(self, sql: str, *args: Any) -> Any:
        return self._timed("execute", sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        return self._timed("executemany", sql, *args)

    def sql(self, sql: str, *args: Any) -> Any:
        return self._timed("sql", sql, *args)

    def report(self) -> None:
        total = sum(seconds for seconds, _ in self.log)
        print(f"\nthe last refresh: {len(self.log)} statements, {total:.3f} s", file=sys.stderr)
        for seconds, sql in self.log:
            print(f"  {seconds * 1000:7.1f} ms  {sql[:140]}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--append-share", type=float, default=0.01)
    parser.add_argument(
        "--repeat", type=int, default=3, help="appends (and refreshes) to time; the median is shown"
    )
    parser.add_argument("--trace", action="store_true", help="time each statement of the last refresh")
    args = parser.parse_args()
    n, extra = args.rows, int(args.rows * args.append_share)
    with tempfile.TemporaryDirectory(prefix="hw-bench-incremental-") as tmp:
        project = hw.Project.from_sql(PROJECT, Path(tmp) / "project")
        project.run(once=True)  # deploys the tables (the view waits for rows)
        console = CaptureConsole()
        with project.open_lake() as lake:
            log = StatementLog(lake.con)
            if args.trace:
                lake.con = log  # type: ignore[assignment]
            started = time.perf_counter()
            lake.execute(
                "INSERT INTO silver.customers (customer_id, country, segment) SELECT i, "
                "'country ' || (hash(i) % 20), ['retail', 'pro', 'public'][1 + i % 3] "
                f"FROM range(1, {CUSTOMERS + 1}) t(i)"
            )
            lake.execute(orders_sql(0, n, n))
            print(
                f"filled silver.orders with {n:,} rows in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            ctx = RunContext(
                lake, project.validate_files(), project.path, project.settings, console, drain=True
            )
            (view,) = ctx.catalog.views

            def refresh() -> tuple[float, str, int]:
                console.events.clear()
                began = time.perf_counter()
                refresh_view(ctx, view)
                seconds = time.perf_counter() - began
                (event,) = [e for e in console.events if isinstance(e, ViewRefreshed)]
                return seconds, event.how, event.rows

            full, full_how, groups = refresh()
            began = time.perf_counter()
            with lake.transaction():
                lake.execute(f"CREATE TABLE main.plain_query AS {QUERY}")
            plain = time.perf_counter() - began
            times, hows = [], set()
            for i in range(args.repeat):
                lake.execute(orders_sql(n + i * extra, extra, n))
                log.on, log.log = i == args.repeat - 1, []
                seconds, how, written = refresh()
                log.on = False
                times.append(seconds)
                hows.add(how)
            incremental = statistics.median(times)
            view_rows = (
                'SELECT * EXCLUDE ("$event_time", "$commit_time", "$source", "$run_id") FROM gold.daily_sales'
            )
            differs = f"SELECT count(*) FROM (({QUERY}) EXCEPT ALL ({view_rows}) UNION ALL (({view_rows}) EXCEPT ALL ({QUERY})))"
            differ = lake.fetchone(differs)
            read = lake.fetchone(  # (the snapshot the last refresh read: in the view's clock row)
                "SELECT arg_max(read_snapshot, last_commit) FROM lake.headwater.clocks "
                "WHERE table_name = 'gold.daily_sales'"
            )
            assert read is not None
            since = int(read[0])
            floors = []
            for i in range(args.repeat, 2 * args.repeat):
                lake.execute(orders_sql(n + i * extra, extra, n))
                began = time.perf_counter()
                since = hand_refresh(lake, since)
                floors.append(time.perf_counter() - began)
            floor = statistics.median(floors)
            hand_differ = lake.fetchone(differs)
    if args.trace:
        log.report()
    assert full_how.startswith("full recompute") and hows == {"incremental"}, (full_how, hows)
    same = differ is not None and differ[0] == 0
    print(machine())
    print(f"silver.orders: {n:,} rows; silver.customers: {CUSTOMERS:,}; gold.daily_sales: {groups:,} groups")
    print(f"a. full recompute (view and its state):      {full:8.3f} s")
    print(f"b. the query alone, CREATE TABLE AS:          {plain:8.3f} s")
    print(
        f"c. incremental refresh after +{extra:,} rows: {incremental:8.3f} s  (median of "
        f"{', '.join(f'{t:.3f}' for t in times)}; {written:,} view rows rewritten each)"
    )
    print(
        f"d. the same refresh, hand-written SQL:        {floor:8.3f} s  (median of "
        f"{', '.join(f'{t:.3f}' for t in floors)})"
    )
    print(f"c/a = {incremental / full:.1%} (target <= 3%), c/b = {incremental / plain:.1%}")
    print(f"d/a = {floor / full:.1%}, c/d = {incremental / floor:.2f}")
    hand_same = hand_differ is not None and hand_differ[0] == 0
    print(
        f"the view equals its query after the refresh: {'yes' if same else 'NO'}, and after (d): "
        f"{'yes' if hand_same else 'NO'}"
    )
    if not (same and hand_same):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
