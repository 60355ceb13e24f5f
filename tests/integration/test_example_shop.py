"""The shop example, end to end: every answer is recomputed from the raw files with plain DuckDB."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import headwater as hw
from headwater.demo import ANSWERS, EXAMPLE, run_demo
from headwater.demo.data import EUR_PER_UNIT, generate
from headwater.observe.events import BatchCommitted, CaptureConsole, ViewRefreshed, WindowCommitted
from headwater.runner.loop import RunResult

NOW = datetime(2026, 11, 1, tzinfo=UTC)
ORDER_COLUMNS = {
    "order_id": "BIGINT",
    "ordered_at": "VARCHAR",
    "status": "VARCHAR",
    "amount": "DOUBLE",
    "currency": "VARCHAR",
    "customer": "STRUCT(id BIGINT, email VARCHAR)",
    "items": "STRUCT(sku VARCHAR, qty BIGINT, price DOUBLE)[]",
}
BILLED = "lower(trim(status)) IN ('completed', 'shipped')"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int], RunResult]:
    """The example project copied to a temporary folder, with data, run once."""
    folder = tmp_path_factory.mktemp("shop") / "shop"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".headwater", "data"))
    counts = generate(folder / "data" / "landing", seed=11, customers=300, orders=3000, now=NOW)
    result = hw.Project(folder).run(once=True)
    return folder, counts, result


@pytest.fixture(scope="module")
def raw(shop: tuple[Path, dict[str, int], Any]) -> duckdb.DuckDBPyConnection:
    """The generated files as plain DuckDB views: nothing of Headwater involved."""
    landing = shop[0] / "data" / "landing"
    con = duckdb.connect()
    rate = " ".join(f"WHEN '{c}' THEN {r}" for c, r in EUR_PER_UNIT.items())
    columns = ", ".join(f"{name}: '{typ}'" for name, typ in ORDER_COLUMNS.items())
    con.execute(
        f"""CREATE VIEW orders AS SELECT *,
            CAST(CAST(ordered_at AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS DATE) AS day,
            CAST(amount * CASE currency {rate} END AS DECIMAL(12, 2)) AS amount_eur,
            {BILLED} AS billed
        FROM read_json('{landing}/orders/*.jsonl', format = 'newline_delimited', columns = {{{columns}}})"""
    )
    con.execute(f"CREATE VIEW customers AS FROM read_csv('{landing}/customers/customers.csv')")
    con.execute(f"CREATE VIEW payments AS FROM read_csv('{landing}/payments/payments.csv')")
    return con


def query(project: Path, sql: str) -> list[tuple[Any, ...]]:
    return hw.Project(project).query(sql).fetchall()


def test_the_pipeline_runs(shop: tuple[Path, dict[str, int], RunResult]) -> None:
    _, counts, result = shop
    assert result.ok, result.failed_jobs
    assert counts["orders"] == 3000 and counts["customers"] == 300


def test_bronze_holds_every_row_of_the_files(
    shop: tuple[Path, dict[str, int], Any], raw: duckdb.DuckDBPyConnection
) -> None:
    folder = shop[0]
    for table in ("customers", "orders", "payments"):
        (expected,) = raw.execute(f"SELECT count(*) FROM {table}").fetchone() or (None,)
        assert query(folder, f"SELECT count(*) FROM bronze.{table}") == [(expected,)], table
    # Nested JSON lands typed: a STRUCT for customer, a LIST of STRUCTs for items.
    types = dict(
        query(
            folder,
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE schema_name = 'bronze' AND table_name = 'orders'",
        )
    )
    assert types["customer"].startswith("STRUCT(id BIGINT")
    assert types["items"].endswith("[]")
    assert types["ordered_at"] == "TIMESTAMP WITH TIME ZONE"
    # The CSV tables have their declared types, and no record was set aside.
    declared = query(
        folder,
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = 'bronze' "
        "AND table_name IN ('customers', 'payments') AND column_name IN ('signup_date', 'paid_at', 'amount') "
        "ORDER BY ALL",
    )
    assert declared == [
        ("customers", "signup_date", "DATE"),
        ("payments", "amount", "DECIMAL(12,2)"),
        ("payments", "paid_at", "TIMESTAMP WITH TIME ZONE"),
    ]
    assert query(folder, "SELECT count(*) FROM system.quarantine") == [(0,)]


def test_silver_has_one_row_per_record_and_per_item(
    shop: tuple[Path, dict[str, int], Any], raw: duckdb.DuckDBPyConnection
) -> None:
    folder, counts, _ = shop
    assert query(folder, "SELECT count(*), count(DISTINCT order_id) FROM silver.orders") == [
        (counts["orders"], counts["orders"])
    ]
    assert query(folder, "SELECT count(*) FROM silver.customers") == [(counts["customers"],)]
    assert query(folder, "SELECT count(*) FROM silver.payments") == [(counts["payments"],)]
    items = raw.execute(
        "SELECT sum(len(items)), sum(list_sum([i.qty FOR i IN items])) FROM orders"
    ).fetchone()
    assert query(folder, "SELECT count(*), sum(qty) FROM silver.order_items") == [items]
    # The nested customer id is flattened and every order found its customer.
    assert query(
        folder, "SELECT count(*) FROM silver.orders WHERE customer_id IS NULL OR country IS NULL"
    ) == [(0,)]
    statuses = {r[0] for r in query(folder, "SELECT DISTINCT status FROM silver.orders")}
    assert statuses == {"completed", "shipped", "pending", "cancelled", "refunded"}


def test_revenue_per_day_matches_the_files(
    shop: tuple[Path, dict[str, int], Any], raw: duckdb.DuckDBPyConnection
) -> None:
    expected = raw.execute(
        """SELECT day, count(*) FILTER (WHERE billed), sum(amount_eur) FILTER (WHERE billed),
                  count(*) FILTER (WHERE lower(trim(status)) = 'cancelled')
           FROM orders GROUP BY day ORDER BY day"""
    ).fetchall()
    got = query(shop[0], "SELECT day, orders, revenue_eur, cancelled FROM gold.daily_revenue ORDER BY day")
    assert got == expected
    assert len(got) >= 30
    assert sum(r[2] for r in got) > Decimal(100_000)


def test_merge_totals_match_a_group_by_over_the_source(
    shop: tuple[Path, dict[str, int], Any], raw: duckdb.DuckDBPyConnection
) -> None:
    expected = raw.execute(
        """SELECT customer.id, count(*),
                  sum(CASE WHEN billed THEN amount_eur ELSE 0 END),
                  min(CAST(ordered_at AS TIMESTAMPTZ)), max(CAST(ordered_at AS TIMESTAMPTZ))
           FROM orders GROUP BY customer.id ORDER BY customer.id"""
    ).fetchall()
    got = query(
        shop[0],
        "SELECT customer_id, lifetime_orders, revenue_eur, first_order_at, last_order_at "
        "FROM gold.customer_revenue ORDER BY customer_id",
    )
    assert got == expected
    top = query(shop[0], "SELECT customer_id, revenue_eur FROM gold.top_customers ORDER BY revenue_eur DESC")
    assert top == sorted(((r[0], r[2]) for r in expected), key=lambda r: (-r[1], r[0]))[:10]


def test_payment_issues_match_the_files(
    shop: tuple[Path, dict[str, int], Any], raw: duckdb.DuckDBPyConnection
) -> None:
    expected = raw.execute(
        """WITH paid AS (SELECT order_id, sum(CAST(amount AS DECIMAL(12, 2))) AS paid
                         FROM payments GROUP BY order_id)
           SELECT CASE WHEN paid IS NULL THEN 'unpaid' WHEN paid < CAST(amount AS DECIMAL(12, 2))
                       THEN 'underpaid' ELSE 'overpaid' END AS issue, count(*)
           FROM orders LEFT JOIN paid USING (order_id)
           WHERE lower(trim(status)) IN ('completed', 'shipped', 'refunded')
             AND coalesce(paid, 0) <> CAST(amount AS DECIMAL(12, 2))
           GROUP BY issue ORDER BY issue"""
    ).fetchall()
    got = query(shop[0], "SELECT issue, count(*) FROM gold.payment_issues GROUP BY issue ORDER BY issue")
    assert got == expected
    assert {r[0] for r in got} == {"unpaid", "underpaid", "overpaid"}


def test_the_sync_join_finds_every_order_of_the_days_both_streams_completed(
    shop: tuple[Path, dict[str, int], Any], raw: duckdb.DuckDBPyConnection
) -> None:
    """Payments are joined to their orders per day of `paid_at`, once the orders' watermark
    (the latest `ordered_at`) has passed the day: the days before it, whole; the last, not yet."""
    (last_order,) = raw.execute("SELECT max(CAST(ordered_at AS TIMESTAMPTZ)) FROM orders").fetchone() or (
        None,
    )
    expected = raw.execute(
        """SELECT p.payment_id, p.order_id, o.customer.id, CAST(o.ordered_at AS TIMESTAMPTZ),
                  date_diff('second', CAST(o.ordered_at AS TIMESTAMPTZ), p.paid_at)
           FROM payments p JOIN orders o USING (order_id)
           WHERE p.paid_at < date_trunc('day', ?::TIMESTAMPTZ) ORDER BY p.payment_id""",
        [last_order],
    ).fetchall()
    got = query(
        shop[0],
        "SELECT payment_id, order_id, customer_id, ordered_at, seconds_to_pay FROM silver.order_payments "
        "ORDER BY payment_id",
    )
    assert got == expected
    assert len(got) > 2000
    marks = {row["name"]: row["watermark"] for row in hw.Project(shop[0]).status()}
    assert marks["load_orders"] == last_order.isoformat()  # type: ignore[union-attr]
    assert marks["order_payments_silver"] == last_order.replace(hour=0, minute=0, second=0).isoformat()  # type: ignore[union-attr]


def _contents(folder: Path) -> dict[str, pa.Table]:
    project = hw.Project(folder)
    tables = project.query(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE schema_name IN ('bronze', 'silver', 'gold') ORDER BY ALL"
    ).fetchall()
    return {f"{s}.{t}": project.query(f"SELECT * FROM {s}.{t} ORDER BY ALL").arrow() for s, t in tables}


def test_a_second_run_writes_nothing_and_changes_nothing(shop: tuple[Path, dict[str, int], Any]) -> None:
    folder = shop[0]
    before = _contents(folder)
    assert len(before) == 13  # 3 bronze, 5 silver, 1 MERGE target and 4 views in gold
    console = CaptureConsole()
    again = hw.Project(folder, console=console).run(once=True)
    assert again.ok and again.rows_written == 0
    assert not console.of(BatchCommitted) + console.of(WindowCommitted) + console.of(ViewRefreshed)
    after = _contents(folder)
    assert after.keys() == before.keys()
    for name, table in before.items():
        assert after[name].equals(table), name


def test_run_demo_answers_in_place_without_new_data(shop: tuple[Path, dict[str, int], Any]) -> None:
    folder = shop[0]
    files = sorted(p.stat().st_mtime_ns for p in (folder / "data" / "landing").rglob("*.*"))
    answers = run_demo(folder)
    assert [title for title, _ in answers] == [title for title, _ in ANSWERS]
    for title, result in answers:
        assert result.arrow().num_rows > 0, title
    assert sorted(p.stat().st_mtime_ns for p in (folder / "data" / "landing").rglob("*.*")) == files
    revenue = answers[0][1].rows()
    assert [r["revenue_eur"] for r in revenue] == [
        r[0] for r in query(folder, "SELECT revenue_eur FROM gold.daily_revenue ORDER BY day")
    ]


def test_generate_is_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", seed=3, customers=50, orders=400, now=NOW)
    b = generate(tmp_path / "b", seed=3, customers=50, orders=400, now=NOW)
    assert a == b
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert len(files) == 6
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    other = tmp_path / "c"
    generate(other, seed=4, customers=50, orders=400, now=NOW)
    assert (other / "orders" / "orders-1.jsonl").read_bytes() != (
        tmp_path / "a" / "orders" / "orders-1.jsonl"
    ).read_bytes()


def test_a_new_file_is_read_alone_and_merged_into_the_totals(
    shop: tuple[Path, dict[str, int], Any], raw: duckdb.DuckDBPyConnection
) -> None:
    """The README's late order, plus repeat orders of known customers: MERGE updates their rows."""
    folder = shop[0]
    readme = (EXAMPLE / "README.md").read_text()
    match = re.search(r"printf '%s\\n' '(\{.*\})'", readme)
    assert match, "the README's late.jsonl example"
    late = [json.loads(match.group(1))]
    with open(folder / "data" / "landing" / "orders" / "orders-1.jsonl") as f:
        for line in itertools.islice(f, 40):
            record = json.loads(line)
            late.append({**record, "order_id": record["order_id"] + 800_000})
    before = dict(query(folder, "SELECT customer_id, lifetime_orders FROM gold.customer_revenue"))
    with open(folder / "data" / "landing" / "orders" / "late.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in late)

    console = CaptureConsole()
    assert hw.Project(folder, console=console).run(once=True).ok
    batches = console.of(BatchCommitted)
    assert [(b.job, b.rows_written) for b in batches] == [("load_orders", len(late))]  # type: ignore[attr-defined]
    updated = [r["customer"]["id"] for r in late if r["customer"]["id"] in before]
    assert updated, "some late orders are from customers who already ordered"
    after = dict(query(folder, "SELECT customer_id, lifetime_orders FROM gold.customer_revenue"))
    for customer in set(updated):
        assert after[customer] == before[customer] + updated.count(customer)
    test_merge_totals_match_a_group_by_over_the_source(shop, raw)
    test_revenue_per_day_matches_the_files(shop, raw)
