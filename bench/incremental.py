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

The gold view groups by day and country (a dimension join), with count, sum and
count(DISTINCT). It checks that the view equals its query after the last (c), and prints the times
and the ratios c/a (target: at most 3%) and c/b. ``--trace`` also prints each SQL statement of
the last refresh, in order, with its time.
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
            differ = lake.fetchone(
                f"SELECT count(*) FROM (({QUERY}) EXCEPT ALL ({view_rows}) UNION ALL (({view_rows}) EXCEPT ALL ({QUERY})))"
            )
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
    print(f"c/a = {incremental / full:.1%} (target <= 3%), c/b = {incremental / plain:.1%}")
    print(f"the view equals its query after the refresh: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
