"""jaffle_shop's models as Headwater materialized views against the same SQL run in DuckDB.

    python bench/jaffle.py [--customers N]

Generates jaffle_shop-shaped raw data (default 100,000 customers, 10 orders and 13 payments
per 1 customer: 1,000,000 orders, 1,300,000 payments) as Parquet files, then:

  a. DuckDB: loads the raw tables into a DuckDB database file (not timed), then runs the five
     models of dbt's jaffle_shop (stg_customers, stg_orders, stg_payments, customers, orders)
     as ``CREATE TABLE ... AS`` in dependency order, timed up to and including the close
     (the checkpoint that writes them);
  b. Headwater: loads the same raw tables into a project's lake (not timed), imports the
     runner's modules (not timed, as ``import duckdb`` is not in a; printed), then times
     ``Project.run(once=True)`` of the project whose five materialized views are the same
     SQL: planning and deploying, computing each view, committing it, maintenance.

It checks that both give the same ``customers`` and ``orders`` rows and prints both times
and the ratio b/a (target: at most 1.3), and (b)'s time in the views' refreshes alone.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from pathlib import Path

import duckdb
from _common import machine

import headwater as hw
from headwater.observe.events import CaptureConsole, ViewRefreshed

MODELS = {
    "stg_customers": "SELECT id AS customer_id, first_name, last_name FROM {raw}customers",
    "stg_orders": "SELECT id AS order_id, user_id AS customer_id, order_date, status FROM {raw}orders",
    "stg_payments": """SELECT id AS payment_id, order_id, payment_method, amount / 100 AS amount
        FROM {raw}payments""",
    "customers": """WITH customer_orders AS (
            SELECT customer_id, min(order_date) AS first_order, max(order_date) AS most_recent_order,
                   count(order_id) AS number_of_orders
            FROM {stg}stg_orders GROUP BY customer_id),
        customer_payments AS (
            SELECT o.customer_id, sum(p.amount) AS total_amount
            FROM {stg}stg_payments p LEFT JOIN {stg}stg_orders o ON p.order_id = o.order_id
            GROUP BY o.customer_id)
        SELECT c.customer_id, c.first_name, c.last_name, co.first_order, co.most_recent_order,
               co.number_of_orders, cp.total_amount AS customer_lifetime_value
        FROM {stg}stg_customers c
        LEFT JOIN customer_orders co ON c.customer_id = co.customer_id
        LEFT JOIN customer_payments cp ON c.customer_id = cp.customer_id""",
    "orders": """WITH order_payments AS (
            SELECT order_id,
                   sum(CASE WHEN payment_method = 'credit_card' THEN amount ELSE 0 END) AS credit_card_amount,
                   sum(CASE WHEN payment_method = 'coupon' THEN amount ELSE 0 END) AS coupon_amount,
                   sum(CASE WHEN payment_method = 'bank_transfer' THEN amount ELSE 0 END) AS bank_transfer_amount,
                   sum(CASE WHEN payment_method = 'gift_card' THEN amount ELSE 0 END) AS gift_card_amount,
                   sum(amount) AS total_amount
            FROM {stg}stg_payments GROUP BY order_id)
        SELECT o.order_id, o.customer_id, o.order_date, o.status, op.credit_card_amount, op.coupon_amount,
               op.bank_transfer_amount, op.gift_card_amount, op.total_amount AS amount
        FROM {stg}stg_orders o LEFT JOIN order_payments op ON o.order_id = op.order_id""",
}
RAW = {
    "customers": "SELECT i AS id, 'first' || (i % 997) AS first_name, chr(CAST(65 + (i % 26) AS INTEGER)) || '.' AS last_name "
    "FROM range(1, {c} + 1) t(i)",
    "orders": "SELECT i AS id, CAST(1 + hash(i) % {c} AS BIGINT) AS user_id, DATE '2018-01-01' + CAST(hash(i * 3) % 1000 AS INTEGER) "
    "AS order_date, ['placed', 'shipped', 'completed', 'return_pending', 'returned'][CAST(1 + hash(i * 5) % 5 AS INTEGER)] AS status "
    "FROM range(1, {c} * 10 + 1) t(i)",
    "payments": "SELECT i AS id, CAST(1 + hash(i) % ({c} * 10) AS BIGINT) AS order_id, "
    "['credit_card', 'coupon', 'bank_transfer', 'gift_card'][CAST(1 + hash(i * 7) % 4 AS INTEGER)] AS payment_method, "
    "CAST(hash(i * 11) % 3000 AS INTEGER) AS amount FROM range(1, {c} * 13 + 1) t(i)",
}


def project_sql() -> str:
    parts = [f"CREATE TABLE raw.{name};" for name in RAW]
    for name, sql in MODELS.items():
        schema = "staging" if name.startswith("stg_") else "marts"
        parts.append(f"CREATE MATERIALIZED VIEW {schema}.{name} AS {sql.format(raw='raw.', stg='staging.')};")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hw-bench-jaffle-") as tmp:
        work = Path(tmp)
        gen = duckdb.connect()
        for name, sql in RAW.items():
            gen.execute(f"COPY ({sql.format(c=args.customers)}) TO '{work / name}.parquet'")
        counts = {n: gen.execute(f"SELECT count(*) FROM '{work / n}.parquet'").fetchone()[0] for n in RAW}  # type: ignore[index]
        gen.close()

        # a. DuckDB
        con = duckdb.connect(str(work / "direct.duckdb"))
        for name in RAW:
            con.execute(f"CREATE TABLE raw_{name} AS FROM '{work / name}.parquet'")
        con.close()
        started = time.perf_counter()
        con = duckdb.connect(str(work / "direct.duckdb"))
        for name, sql in MODELS.items():
            con.execute(f"CREATE TABLE {name} AS {sql.format(raw='raw_', stg='')}")
        con.close()
        direct = time.perf_counter() - started

        # b. Headwater
        console = CaptureConsole()
        project = hw.Project.from_sql(project_sql(), work / "project", console=console)
        with project.open_lake() as lake:
            for name in RAW:
                lake.execute("CREATE SCHEMA IF NOT EXISTS raw")
                lake.execute(f"CREATE TABLE raw.{name} AS FROM '{work / name}.parquet'")
        # Headwater's modules are imported before (b) is timed, as DuckDB's are before (a):
        # a process imports them once, whatever it runs.
        started = time.perf_counter()
        importlib.import_module("headwater.runner.loop")
        imports = time.perf_counter() - started
        started = time.perf_counter()
        result = project.run(once=True)
        headwater = time.perf_counter() - started
        if not result.ok:
            raise SystemExit(f"the run failed: {result.failed_jobs}")
        views = sum(isinstance(e, ViewRefreshed) for e in console.events)

        con = duckdb.connect(str(work / "direct.duckdb"), read_only=True)
        same = True
        for name in ("customers", "orders"):
            mine = project.query(
                f'SELECT * EXCLUDE ("$event_time", "$commit_time", "$source", "$run_id") FROM marts.{name}'
            ).arrow()
            con.register("mine", mine)
            # the payment amounts are DOUBLE (amount / 100): their sums may differ in the last bits
            doubles = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall() if r[1] == "DOUBLE"]
            rounded = f"* REPLACE ({', '.join(f'round({c}, 6) AS {c}' for c in doubles)})" if doubles else "*"
            differ = con.execute(
                f"SELECT count(*) FROM ((SELECT {rounded} FROM {name} EXCEPT ALL SELECT {rounded} FROM mine) "
                f"UNION ALL (SELECT {rounded} FROM mine EXCEPT ALL SELECT {rounded} FROM {name}))"
            ).fetchone()
            same = same and differ is not None and differ[0] == 0
        con.close()
    print(machine())
    print("raw: " + ", ".join(f"{n} {c:,}" for n, c in counts.items()) + f"; {len(MODELS)} models")
    print(f"a. DuckDB, CREATE TABLE AS each model:       {direct:7.3f} s")
    print(f"b. Headwater, run --once ({views} views computed): {headwater:7.3f} s")
    print(f"b/a = {headwater / direct:.2f} (target <= 1.3)")
    print(
        f"(Headwater's modules, imported before b as DuckDB's before a: {imports:.3f} s; "
        f"with them b/a = {(headwater + imports) / direct:.2f})"
    )
    print(f"customers and orders the same in both: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
