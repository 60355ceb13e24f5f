from __future__ import annotations

from datetime import UTC, datetime

import duckdb
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from headwater.dialect import parse, to_duckdb
from headwater.dialect.nodes import Query
from headwater.runner.windows import bind_window, floor_window


def query(sql: str) -> exp.Expr:
    stmt = parse(sql)[0]
    assert isinstance(stmt, Query)
    return stmt.expression


def test_windows_are_aligned_to_the_epoch() -> None:
    t = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert floor_window(t, 60) == datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    assert floor_window(t, 3600) == datetime(2026, 3, 4, 5, tzinfo=UTC)
    assert floor_window(t, 86400) == datetime(2026, 3, 4, tzinfo=UTC)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from([1, 60, 300, 3600]),
)
def test_floor_contains_the_instant(t: datetime, seconds: int) -> None:
    start = floor_window(t.replace(tzinfo=UTC), seconds)
    assert 0 <= (t.replace(tzinfo=UTC) - start).total_seconds() < seconds


def test_between_run_times_is_half_open() -> None:
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    end = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    expr = query("SELECT count(*) FROM t WHERE t.$commit_time BETWEEN run_start_time() AND run_end_time()")
    sql = to_duckdb(bind_window(expr, start, end))
    con = duckdb.connect()
    con.execute('CREATE TABLE t ("$commit_time" TIMESTAMPTZ)')
    con.execute(
        "INSERT INTO t VALUES ('2025-12-31 23:59:59.999999+00'), ('2026-01-01 00:00:00+00'), "
        "('2026-01-01 00:00:59.999+00'), ('2026-01-01 00:01:00+00')"
    )
    assert con.execute(sql).fetchall() == [(2,)]


def test_system_tables_are_qualified_with_the_lake() -> None:
    expr = query("SELECT * FROM system.runs r JOIN bronze.x USING (job)")
    sql = to_duckdb(bind_window(expr, datetime.now(UTC), datetime.now(UTC)))
    assert "lake.system.runs" in sql and "lake.bronze" not in sql
