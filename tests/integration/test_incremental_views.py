"""Incremental materialized views: always equal to their query, refreshed from the changes.

The property test applies random appends, updates and deletes (of the fact table, and
changes of the dimension table) and, after each refresh, compares every view with its query
run on the same data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwater as hw
from headwater.lake import Lake
from headwater.lake.system_tables import STATE_VERSION
from headwater.observe.events import Console, Event, ViewRefreshed
from headwater.runner.context import RunContext
from headwater.runner.views import refresh_view

QUERIES = {
    # invertible aggregates only: updates and deletes of orders refresh incrementally too
    "gold.sums": """SELECT o.customer_id % 3 AS bucket, o.note, count(*) AS orders, count(o.amount) AS priced,
        sum(o.amount) AS revenue, avg(o.amount) AS mean, sum(o.qty) * 2 AS twice,
        count(*) FILTER (WHERE o.amount > 0) AS positive, sum(o.qty) FILTER (WHERE o.note = 'a') AS qty_a
        FROM silver.orders o WHERE o.qty IS DISTINCT FROM 7 GROUP BY bucket, o.note HAVING count(*) > 1""",
    # every aggregate, and a dimension table
    "gold.all": """SELECT c.country, count(*) AS orders, sum(o.amount) AS revenue, avg(o.qty) AS mean_qty,
        min(o.amount) AS lo, max(o.note) AS hi, count(DISTINCT o.customer_id) AS customers,
        count(DISTINCT o.note) AS notes, min(o.qty) FILTER (WHERE o.note IS NOT NULL) AS least_noted
        FROM silver.orders o LEFT JOIN silver.customers c ON c.customer_id = o.customer_id
        GROUP BY ALL""",
    "gold.totals": """SELECT c.country AS country, o.qty, sum(o.qty) AS qty_total, count(DISTINCT o.note) AS notes
        FROM silver.orders AS o JOIN silver.customers AS c USING (customer_id) GROUP BY 1, 2""",
}
PROJECT = (
    "CREATE TABLE silver.orders (order_id INTEGER, customer_id INTEGER, amount DECIMAL(8, 2), qty INTEGER, note VARCHAR);\n"
    "CREATE TABLE silver.customers (customer_id INTEGER, country VARCHAR);\n"
    + "".join(f"CREATE MATERIALIZED VIEW {name} AS {sql};\n" for name, sql in QUERIES.items())
)


@dataclass
class Capture(Console):
    events: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def refreshed(self) -> dict[str, str]:
        return {e.view: e.how for e in self.events if isinstance(e, ViewRefreshed)}


@dataclass
class Pipeline:
    project: hw.Project
    lake: Lake
    ctx: RunContext
    console: Capture

    def refresh(self) -> dict[str, str]:
        self.console.events.clear()
        for view in self.ctx.catalog.views:
            refresh_view(self.ctx, view)
        return self.console.refreshed()

    def differences(self) -> dict[str, list[tuple[object, ...]]]:
        """Rows of each view and of its query that the other lacks. (DOUBLE values are compared
        to 12 digits: DuckLake's inlined rows, which a small view's are, read some back one unit
        of the last digit off, e.g. 0.9090909090909091 as 0.9090909090909092.)"""
        out = {}
        for name, sql in QUERIES.items():
            doubles = [r[0] for r in self.lake.fetchall(f"DESCRIBE ({sql})") if r[1] == "DOUBLE"]
            rounded = ", ".join(f'round("{c}", 12) AS "{c}"' for c in doubles)
            cols = f"* REPLACE ({rounded})" if doubles else "*"
            sql = f"SELECT {cols} FROM ({sql})"
            view = f'SELECT {cols} FROM (SELECT * EXCLUDE ("$event_time", "$commit_time", "$source", "$run_id") FROM {name})'
            rows = self.lake.fetchall(f"({sql}) EXCEPT ALL ({view}) UNION ALL (({view}) EXCEPT ALL ({sql}))")
            if rows:
                out[name] = rows
        return out


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    project = hw.Project.from_sql(PROJECT, tmp_path_factory.mktemp("incremental"))
    project.run(once=True)  # deploys the tables
    console = Capture()
    with project.open_lake() as lake:
        ctx = RunContext(lake, project.validate_files(), project.path, project.settings, console, drain=True)
        yield Pipeline(project, lake, ctx, console)


def _orders(pipeline: Pipeline, rows: list[tuple[object, ...]]) -> None:
    pipeline.lake.con.executemany(
        "INSERT INTO silver.orders (order_id, customer_id, amount, qty, note) VALUES (?, ?, ?, ?, ?)", rows
    )


amounts = st.one_of(st.none(), st.decimals(min_value=-50, max_value=50, places=2))
order_rows = st.lists(
    st.tuples(
        st.integers(0, 40),
        st.one_of(st.none(), st.integers(0, 5)),
        amounts,
        st.one_of(st.none(), st.integers(-3, 9)),
        st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
    ),
    min_size=1,
    max_size=12,
)
steps = st.one_of(
    st.tuples(st.just("append"), order_rows),
    st.tuples(st.just("update"), st.integers(2, 4), st.integers(0, 3), amounts),
    st.tuples(st.just("delete"), st.integers(2, 5), st.integers(0, 4)),
    st.tuples(st.just("customer"), st.integers(0, 5), st.one_of(st.none(), st.sampled_from(["fr", "de"]))),
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(steps, min_size=1, max_size=3), min_size=1, max_size=3))
def test_views_equal_their_query_after_random_changes(pipeline: Pipeline, batches: list[list[tuple]]) -> None:  # type: ignore[type-arg]
    lake = pipeline.lake
    for batch in batches:
        for step in batch:
            if step[0] == "append":
                _orders(pipeline, step[1])
            elif step[0] == "update":
                _, m, r, amount = step
                lake.execute(
                    f"UPDATE silver.orders SET amount = ?, qty = coalesce(qty, 0) + 1 WHERE order_id % {m} = {r}",
                    [amount],
                )
            elif step[0] == "delete":
                lake.execute(f"DELETE FROM silver.orders WHERE order_id % {step[1]} = {step[2]}")
            else:
                _, customer, country = step
                lake.execute("DELETE FROM silver.customers WHERE customer_id = ?", [customer])
                lake.execute(
                    "INSERT INTO silver.customers (customer_id, country) VALUES (?, ?)", [customer, country]
                )
        pipeline.refresh()
        assert pipeline.differences() == {}


def test_an_append_refreshes_only_the_changed_groups(pipeline: Pipeline) -> None:
    lake = pipeline.lake
    lake.execute("DELETE FROM silver.orders")
    lake.execute("DELETE FROM silver.customers")
    lake.execute("INSERT INTO silver.customers (customer_id, country) VALUES (1, 'fr'), (2, 'de')")
    _orders(pipeline, [(i, 1 + i % 2, Decimal(i), i % 3, "a") for i in range(20)])
    pipeline.refresh()
    assert pipeline.differences() == {}

    _orders(pipeline, [(100, 1, Decimal("2.50"), 2, "b")])  # one new order, for fr
    hows = pipeline.refresh()
    assert hows == {"gold.sums": "incremental", "gold.all": "incremental", "gold.totals": "incremental"}
    assert pipeline.differences() == {}
    written = {e.view: e.rows for e in pipeline.console.events if isinstance(e, ViewRefreshed)}
    assert written == {
        "gold.sums": 0,
        "gold.all": 1,
        "gold.totals": 1,
    }  # (the new sums group has 1 row: HAVING)
    changed = lake.fetchall(
        "SELECT country, orders, revenue, customers, notes FROM gold.all ORDER BY country"
    )
    assert changed == [("de", 10, Decimal("100.00"), 1, 1), ("fr", 11, Decimal("92.50"), 1, 2)]

    assert pipeline.refresh() == {}  # nothing changed: nothing done

    lake.execute("DELETE FROM silver.orders WHERE order_id = 100")
    hows = pipeline.refresh()
    assert hows["gold.sums"] == "incremental"
    assert hows["gold.all"].startswith("full recompute: rows of silver.orders were updated or deleted")
    assert pipeline.differences() == {}

    lake.execute("UPDATE silver.customers SET country = 'it' WHERE customer_id = 2")
    hows = pipeline.refresh()
    assert hows["gold.all"] == "full recompute: the dimension table silver.customers changed"
    assert "gold.sums" not in hows  # it does not read customers
    assert pipeline.differences() == {}


def test_plan_says_how_each_view_refreshes(tmp_path: Path) -> None:
    project = hw.Project.from_sql(
        PROJECT
        + "CREATE MATERIALIZED VIEW gold.top AS SELECT customer_id, sum(amount) AS s FROM silver.orders "
        "GROUP BY customer_id ORDER BY s DESC LIMIT 3;\n"
        "CREATE MATERIALIZED VIEW gold.floats AS SELECT customer_id, sum(CAST(amount AS DOUBLE)) AS s "
        "FROM silver.orders GROUP BY customer_id;\n",
        tmp_path,
    )
    project.run(once=True)
    assert project.plan().explain_refresh() == [
        "view gold.all: incremental",
        "view gold.floats: full recompute: sum() of DOUBLE values (only integers and DECIMAL add up the same in any order)",
        "view gold.sums: incremental",
        "view gold.top: full recompute: the query uses LIMIT",
        "view gold.totals: incremental",
    ]


def test_a_refresh_inside_another_transaction_counts_its_rows_once(pipeline: Pipeline) -> None:
    """A replay refreshes the views downstream in its own transaction, whose changes no
    snapshot holds yet: the view is recomputed then, and the refresh after the commit does not
    count those rows a second time."""
    lake = pipeline.lake
    pipeline.refresh()
    with lake.transaction():
        _orders(pipeline, [(200, 1, Decimal("4.00"), 1, "a"), (201, None, None, 2, "b")])
        hows = pipeline.refresh()
        assert hows["gold.all"] == "full recompute: inside a replay's transaction"
        assert pipeline.differences() == {}
    hows = pipeline.refresh()
    assert hows["gold.all"] == "full recompute: first computation"
    assert pipeline.differences() == {}
    _orders(pipeline, [(202, 2, Decimal("1.00"), 3, "c")])
    assert pipeline.refresh()["gold.all"] == "incremental"
    assert pipeline.differences() == {}


def test_a_refresh_after_maintenance_reads_the_rows_it_moved_once(pipeline: Pipeline) -> None:
    """Maintenance writes inlined rows out to Parquet and rewrites files of deleted rows in
    snapshots of its own: a refresh reading changes across them (only insertions read when
    the snapshots only inserted) counts each row once, and takes deleted rows back."""
    from headwater.lake.maintenance import maintain

    lake = pipeline.lake
    pipeline.refresh()
    _orders(pipeline, [(300 + i, i % 4, Decimal(i), i % 5, "abc"[i % 3]) for i in range(40)])
    pipeline.refresh()
    lake.execute("DELETE FROM silver.orders WHERE order_id % 7 = 3")
    _orders(pipeline, [(400 + i, i % 3, Decimal(i) / 4, i % 2, "ab"[i % 2]) for i in range(30)])
    maintain(lake, retention_hours=24, flush_rows=1)
    hows = pipeline.refresh()
    assert hows["gold.sums"] == "incremental"
    assert pipeline.differences() == {}
    _orders(pipeline, [(500 + i, i % 4, Decimal(i), 1, "c") for i in range(10)])
    maintain(lake, retention_hours=24, flush_rows=1)
    assert set(pipeline.refresh().values()) == {"incremental"}
    assert pipeline.differences() == {}


def test_maintenance_keeps_the_snapshots_views_still_read(pipeline: Pipeline) -> None:
    """Within the retention, maintenance keeps every snapshot from the oldest one an incremental
    view's refresh read (in its clock row): the next refresh reads the changes of each since,
    once. Beyond the retention they expire, and the refresh recomputes in full."""
    from headwater.lake.maintenance import maintain

    lake = pipeline.lake

    def append(first: int) -> None:
        for i in range(3):  # (three snapshots)
            _orders(pipeline, [(first + 10 * i + k, k % 3, Decimal(k), 2, "abc"[k % 3]) for k in range(10)])

    pipeline.refresh()
    append(700)
    pipeline.refresh()
    read = {
        r[0]
        for r in lake.fetchall(
            "SELECT arg_max(read_snapshot, last_commit) FROM lake.headwater.clocks "
            "WHERE read_snapshot IS NOT NULL GROUP BY table_name"
        )
    }
    append(800)
    maintain(lake, retention_hours=24, keep_all_minutes=0)  # (the hour's last, and what views read)
    left = {r[0] for r in lake.fetchall("SELECT snapshot_id FROM lake.snapshots()")}
    assert set(range(min(read), max(left) + 1)) <= left
    assert set(pipeline.refresh().values()) == {"incremental"}
    assert pipeline.differences() == {}
    append(900)
    maintain(lake, retention_hours=0, keep_all_minutes=0)
    expired = "full recompute: snapshots since its last refresh were expired"
    assert set(pipeline.refresh().values()) == {expired}
    assert pipeline.differences() == {}


def test_a_refresh_after_an_append_runs_few_statements(pipeline: Pipeline) -> None:
    """Each statement on a lake table costs milliseconds of catalog work, more than the rows
    of a small append: a refresh after one reads what it decides from in one query and writes
    only what changed (the view, its state, its run, status and clock, which holds the snapshot
    it read)."""
    lake = pipeline.lake
    pipeline.refresh()
    _orders(pipeline, [(600, 1, Decimal("1.00"), 1, "a")])
    statements: list[str] = []
    con = lake.con

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(con, name)

        def execute(self, sql: str, *args: object) -> object:
            statements.append(sql)
            return con.execute(sql, *args)

        def executemany(self, sql: str, *args: object) -> object:
            statements.append(sql)
            return con.executemany(sql, *args)

    lake.con = Counting()  # type: ignore[assignment]
    try:
        (view,) = [v for v in pipeline.ctx.catalog.views if str(v.writes) == "gold.sums"]
        pipeline.console.events.clear()
        refresh_view(pipeline.ctx, view)
    finally:
        lake.con = con
    assert pipeline.console.refreshed() == {"gold.sums": "incremental"}
    assert len(statements) <= 19, "\n".join(statements)  # (32, then 26, before they were cut down)
    pipeline.refresh()
    assert pipeline.differences() == {}


def test_a_lake_from_state_version_5_keeps_refreshing_from_the_changes(tmp_path: Path) -> None:
    """Version 5 kept the snapshot each view last read in view_inputs; version 6 in the view's
    newest clock row. The upgrade moves it there: the next refresh reads the changes since,
    once (a snapshot too old would count rows twice; none would recompute in full)."""
    console = Capture()
    project = hw.Project.from_sql(PROJECT, tmp_path / "p", console=console)
    project.run(once=True)
    with project.open_lake() as lake:
        lake.execute("INSERT INTO silver.customers (customer_id, country) VALUES (1, 'fr'), (2, 'de')")
        lake.execute(
            "INSERT INTO silver.orders (order_id, customer_id, amount, qty, note) SELECT i, i % 3, i * 1.5, i % 4, ['a', 'b', NULL][1 + i % 3] FROM range(30) t(i)"
        )
    project.run(once=True)
    assert set(console.refreshed()) == set(QUERIES)
    with project.open_lake() as lake:  # what version 5 left behind: the snapshots in view_inputs
        lake.execute(
            "UPDATE lake.headwater.view_inputs v SET snapshot_id = (SELECT arg_max(read_snapshot, last_commit) "
            "FROM lake.headwater.clocks c WHERE c.table_name = v.view_name)"
        )
        lake.execute("ALTER TABLE lake.headwater.clocks DROP COLUMN read_snapshot")
        lake.execute("UPDATE lake.headwater.meta SET value = '5' WHERE key = 'state_version'")
        lake.execute("UPDATE lake.headwater.meta SET value = 'version 5' WHERE key = 'tables_fingerprint'")
        lake.execute(
            "INSERT INTO silver.orders (order_id, customer_id, amount, qty, note) SELECT i, i % 3, i * 2.5, i % 5, 'c' FROM range(30, 45) t(i)"
        )
    console.events.clear()
    project.run(once=True)
    assert console.refreshed() == {name: "incremental" for name in QUERIES}
    with project.open_lake() as lake:
        assert Pipeline(project, lake, None, console).differences() == {}  # type: ignore[arg-type]
        version = lake.fetchone("SELECT value FROM lake.headwater.meta WHERE key = 'state_version'")
        assert version == (str(STATE_VERSION),)
