"""Ingestion with guarantees across data shapes, and Headwater's memory as the rows grow.

    python bench/ingest_shapes.py [--shape flat|nested2|...|all] [--rows N] [--repeat R] [--profile-ops]
    python bench/ingest_shapes.py --memory [--shape S] [--rows 1000000 4000000 8000000]

The orders of ``ingest_guarantees.py``, with the same dirt (5 % exact re-sends, 2 % negative
amounts, 0.5 % unknown statuses, 1 % no customer, 0.1 % truncated lines), laid out in each
shape of ``SHAPES``: flat; a ``customer`` object two levels deep; an array of objects; 60
columns; a long text value; four zone-less or zoned microsecond timestamps; the flat columns as
CSV; the flat lines in files of 1,000 lines. On each shape, each in a fresh process:

  raw:       ``CREATE TABLE t AS SELECT * FROM read_json(...)`` (``read_csv`` for CSV) into a
             DuckDB file, ``ignore_errors = true``: no guarantees;
  hand:      the guarantees as one hand-written statement into a DuckLake table (a DuckDB-file
             catalog, Parquet files): ``read_ndjson_objects`` (``read_csv``)
             with ``ignore_errors``, ``json_transform``, salted ``sha256`` of the email, the card
             masked, the SSN left out, a ``WHERE`` for the DROP and QUARANTINE expectations,
             ``QUALIFY row_number()`` to dedupe;
  headwater: ``Project.run(once=True)`` with ``DEDUPLICATE_WITH (order_id, 1 DAY)``, ``HASH``,
             ``MASK``, ``EXCLUDE_COLUMNS`` and DROP / QUARANTINE / WARN expectations;
  plain:     ``Project.run(once=True)`` of the same job without any option.

Prints rows/s and headwater/hand, headwater rows/s and plain/raw against their targets, and
checks every count (``system.runs`` against the dirt injected, hand's rows, privacy). With
``--profile-ops`` a second headwater run per shape has DuckDB's profiler on every statement and
prints the most expensive operators. ``--memory``: the peak RSS of the headwater process
(``wait4``) for each ``--rows``, and its growth from the first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from _common import OperatorProfile, machine, new_project, print_operators, run_child, run_once, timed_ctas
from ingest_guarantees import SALT, STATUSES, _truncate_lines, check_headwater, dirty_orders

KINDS = ("raw", "hand", "headwater", "plain")
TARGET_HAND, TARGET_RATE, TARGET_RAW = 0.6, 150_000, 0.5
TARGET_RSS, TARGET_GROWTH = 1.5e9, 0.10


@dataclass(frozen=True)
class Shape:
    """How the orders are laid out, and where the guarantees' columns are in that layout."""

    name: str
    about: str
    build: Callable[[pa.Table], pa.Table]  # the orders (ingest_guarantees.orders) -> this shape
    csv: bool = False
    lines_per_file: int = 0  # 0: 4 files
    timestamps: dict[str, str] = field(default_factory=lambda: {"created_at": "TIMESTAMPTZ"})
    email: str = "email"  # column paths, as SQL
    ssn: str = "ssn"
    customer: str = "customer_id"


def _derived(ids: pa.Array, salt: int, modulo: int) -> np.ndarray:
    """A number in [0, modulo) that depends only on the order (a re-send carries the same)."""
    x = ids.to_numpy().astype(np.uint64) * np.uint64(2_654_435_761 + 2 * salt) + np.uint64(salt)
    return ((x >> np.uint64(7)) % np.uint64(modulo)).astype(np.int64)


def _array(values: Any, typ: pa.DataType | None = None) -> pa.Array:
    """``pa.array``, always one Array (a large numpy text array can come back chunked)."""
    out = pa.array(values, typ)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _nested2(t: pa.Table) -> pa.Table:
    ids = t["order_id"].combine_chunks()
    address = pa.StructArray.from_arrays(
        [
            _array(np.char.add("city-", _derived(ids, 1, 500).astype(str)), pa.string()),
            _array(np.char.add("7", _derived(ids, 2, 10_000).astype(str)), pa.string()),
            _array(np.array(["FR", "DE", "US", "JP"])[_derived(ids, 3, 4)], pa.string()),
        ],
        names=["city", "zip", "country"],
    )
    customer = pa.StructArray.from_arrays(
        [t["customer_id"].combine_chunks(), t["email"].combine_chunks(), t["ssn"].combine_chunks(), address],
        names=["id", "email", "ssn", "address"],
    )
    return t.drop_columns(["customer_id", "email", "ssn"]).append_column("customer", customer)


def _arrays(t: pa.Table) -> pa.Table:
    ids = t["order_id"].combine_chunks()
    counts = _derived(ids, 4, 4) + 1  # 1 to 4 items
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    n = int(offsets[-1])
    owner = np.repeat(ids.to_numpy(), counts)
    item = np.arange(n) - np.repeat(offsets[:-1], counts)
    key = _array(owner * 4 + item)
    items = pa.StructArray.from_arrays(
        [
            _array(np.char.add("SKU-", _derived(key, 5, 90_000).astype(str)), pa.string()),
            _array(_derived(key, 6, 9) + 1),
            _array((_derived(key, 7, 100_000) + 100) / 100.0),
        ],
        names=["sku", "qty", "price"],
    )
    return t.append_column("items", pa.ListArray.from_arrays(_array(offsets), items))


def _wide(t: pa.Table) -> pa.Table:
    ids = t["order_id"].combine_chunks()
    words = np.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])
    for i in range(1, 53):  # 8 + 52 = 60 columns
        v = _derived(ids, 10 + i, 1_000_000)
        kind = i % 4
        column = (
            pa.array(v)
            if kind == 0
            else pa.array(v / 100.0)
            if kind == 1
            else pa.array(words[v % len(words)], pa.string())
            if kind == 2
            else pa.array(v % 2 == 0)
        )
        t = t.append_column(f"f{i:02d}", column)
    return t


def _longtext(t: pa.Table) -> pa.Table:
    rng = np.random.default_rng(5)
    text = 'the order was left at the door because nobody answered, and the parcel "looked" fine; '
    text += "customer asked for a refund of 12.50 EUR / delivery late again"
    vocabulary = np.array(text.split(" "))
    pool = np.array([" ".join(rng.choice(vocabulary, rng.integers(80, 260))) for _ in range(97)])
    notes = pa.array(pool, pa.string()).take(pa.array(_derived(t["order_id"].combine_chunks(), 8, len(pool))))
    return t.append_column("note", notes)


def _timestamps(zone: str) -> Callable[[pa.Table], pa.Table]:
    def build(t: pa.Table) -> pa.Table:
        ids = t["order_id"].combine_chunks()
        start = pc.cast(pc.strptime(t["created_at"], format="%Y-%m-%dT%H:%M:%SZ", unit="s"), pa.int64())
        micros = start.to_numpy() * 1_000_000 + _derived(ids, 9, 1_000_000)
        out = t.drop_columns(["created_at"])
        for i, name in enumerate(("created_at", "paid_at", "shipped_at", "updated_at")):
            at = micros + i * (_derived(ids, 20 + i, 3_600_000_000) + 1)
            text = pc.strftime(pa.array(at.astype("datetime64[us]")), format="%Y-%m-%dT%H:%M:%S")
            out = out.append_column(name, pc.binary_join_element_wise(text, zone, ""))
        return out

    return build


def _same(t: pa.Table) -> pa.Table:
    return t


STAMPS = ("created_at", "paid_at", "shipped_at", "updated_at")
SHAPES = {
    s.name: s
    for s in (
        Shape("flat", "8 flat columns, a zoned timestamp in seconds", _same),
        Shape(
            "nested2",
            "customer {id, email, ssn, address {city, zip, country}}",
            _nested2,
            email="customer.email",
            ssn="customer.ssn",
            customer="customer.id",
        ),
        Shape("arrays", "flat + items: 1 to 4 {sku, qty, price}", _arrays),
        Shape("wide", "60 columns (52 more: integers, doubles, words, booleans)", _wide),
        Shape("longtext", "flat + a note of 80 to 260 words", _longtext),
        Shape(
            "ts_naive",
            "4 zone-less microsecond timestamps",
            _timestamps(""),
            timestamps=dict.fromkeys(STAMPS, "TIMESTAMP"),
        ),
        Shape(
            "ts_zoned",
            "4 microsecond timestamps at +02:00",
            _timestamps("+02:00"),
            timestamps=dict.fromkeys(STAMPS, "TIMESTAMPTZ"),
        ),
        Shape("csv", "the flat columns as CSV, with a header", _same, csv=True),
        Shape("smallfiles", "flat, 1,000 lines a file", _same, lines_per_file=1000),
    )
}
DEFAULT_SHAPES = list(SHAPES)


# -- data --------------------------------------------------------------------------------------
def write_shape(landing: Path, shape: Shape, rows: int) -> dict[str, Any]:
    """The dirty orders in ``shape``, written into ``landing``; returns the counts injected."""
    import duckdb

    shutil.rmtree(landing, ignore_errors=True)
    landing.mkdir(parents=True)
    table, broken, expected = dirty_orders(rows)
    table = shape.build(table)
    files = -(-rows // shape.lines_per_file) if shape.lines_per_file else 4
    bounds = np.linspace(0, rows, files + 1).astype(int)
    con = duckdb.connect()
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds), start=1):
        part = table.slice(lo, hi - lo)  # noqa: F841 (read by DuckDB by name)
        path = landing / f"orders-{i:05d}.{'csv' if shape.csv else 'jsonl'}"
        options = "FORMAT CSV, HEADER" if shape.csv else "FORMAT JSON"
        con.execute(f"COPY (SELECT * FROM part) TO '{path}' ({options})")
        mine = broken[(broken >= lo) & (broken < hi)] - lo
        if len(mine):
            _truncate_lines(path, mine + (1 if shape.csv else 0))  # (a CSV file's header first)
    con.close()
    expected["bytes"] = sum(p.stat().st_size for p in landing.iterdir())
    expected["files"] = files
    expected["columns"] = table.num_columns
    return expected


# -- the four measurements ---------------------------------------------------------------------
def _glob(work: Path, shape: Shape) -> str:
    return str(work / "landing" / ("*.csv" if shape.csv else "*.jsonl"))


def _transform_type(typ: pa.DataType, name: str, shape: Shape) -> Any:
    """The ``json_transform`` structure of an Arrow type (the shape's timestamps as theirs)."""
    if pa.types.is_struct(typ):
        return {
            typ.field(i).name: _transform_type(typ.field(i).type, "", shape) for i in range(typ.num_fields)
        }
    if pa.types.is_list(typ):
        return [_transform_type(typ.value_type, "", shape)]
    if name in shape.timestamps:
        return shape.timestamps[name]
    return {"int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN"}.get(str(typ), "VARCHAR")


def hand_sql(work: Path, shape: Shape, schema: pa.Schema) -> str:
    """The guarantees as one statement. (``schema``: the shape's columns, for json_transform.)"""
    mask = "lpad(right(o.card::VARCHAR, 4), CAST(length(o.card::VARCHAR) AS INTEGER), '*') AS card"
    if shape.email == "email":
        select = f"o.* EXCLUDE (email, card, ssn), sha256('{SALT}' || o.email) AS email, {mask}"
    else:  # the email and SSN inside ``customer``: the struct rebuilt without them in clear
        select = (
            f"o.* EXCLUDE (customer, card), struct_pack(id := o.customer.id, "
            f"email := sha256('{SALT}' || o.customer.email), address := o.customer.address) AS customer, {mask}"
        )
    if shape.csv:
        source = f"read_csv('{_glob(work, shape)}', ignore_errors = true, header = true) o"
    else:
        spec = json.dumps({f.name: _transform_type(f.type, f.name, shape) for f in schema})
        source = (
            f"(SELECT unnest(json_transform(json, '{spec}')) "
            f"FROM read_ndjson_objects('{_glob(work, shape)}', ignore_errors = true)) o"
        )
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    return f"""CREATE TABLE lake.orders AS SELECT {select} FROM {source}
        WHERE o.amount > 0 AND o.status IN ({statuses})
        QUALIFY row_number() OVER (PARTITION BY o.order_id) = 1"""


def ducklake_ctas(folder: Path, sql: str) -> dict[str, Any]:
    """``sql`` (a CREATE TABLE lake.orders AS ...) into a fresh DuckLake (a DuckDB-file catalog
    and Parquet files, as Headwater's lake), timed up to and including closing the connection."""
    import duckdb
    from duckdb_extensions import import_extension

    def attach() -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        import_extension("ducklake", con=con)
        con.execute("LOAD ducklake")
        con.execute(f"ATTACH 'ducklake:{folder}/catalog.ducklake' AS lake (DATA_PATH '{folder}/data')")
        return con

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    con = attach()
    con.execute(sql)
    con.close()
    seconds = time.perf_counter() - started
    con = attach()
    row = con.execute("SELECT count(*) FROM lake.orders").fetchone()
    con.close()
    return {"seconds": seconds, "rows": int(row[0]) if row else 0}


def project_sql(work: Path, shape: Shape, guarantees: bool) -> str:
    pattern = "*.csv" if shape.csv else "*.jsonl"
    copy = f"AS COPY FROM landing PATTERN = '{pattern}' INTO bronze.orders"
    head = f"CREATE FILES CONNECTION landing PATH = '{work / 'landing'}';\nCREATE TABLE bronze.orders;\n"
    if not guarantees:
        return head + f"CREATE JOB load_orders {copy};\n"
    return head + (
        f"""CREATE JOB load_orders
  DEDUPLICATE_WITH = (COLUMNS = (order_id), WINDOW = 1 DAY)
  COLUMN_TRANSFORMATIONS = ({shape.email} = HASH({shape.email}), card = MASK(card, 4))
  EXCLUDE_COLUMNS = ({shape.ssn})
{copy}
WITH EXPECTATION positive_amount EXPECT amount > 0 ON VIOLATION DROP
WITH EXPECTATION known_status EXPECT status IN ('new','paid','shipped') ON VIOLATION QUARANTINE
WITH EXPECTATION has_customer EXPECT {shape.customer} IS NOT NULL ON VIOLATION WARN;
"""
    )


def measure(kind: str, work: Path, shape: Shape, profile_ops: bool, batch_bytes: int) -> dict[str, Any]:
    if kind == "raw":
        reader = "read_csv" if shape.csv else "read_json"
        sql = f"CREATE TABLE t AS SELECT * FROM {reader}('{_glob(work, shape)}', ignore_errors = true)"
        return timed_ctas(work / "raw.duckdb", sql, "t")
    if kind == "hand":
        schema = pa.ipc.read_schema(work / "schema.arrow")
        return ducklake_ctas(work / "hand-lake", hand_sql(work, shape, schema))
    profiler = OperatorProfile(work / "profiles") if profile_ops else None
    project_dir = new_project(work, project_sql(work, shape, kind == "headwater"))
    if batch_bytes:
        (project_dir / "headwater.toml").write_text(f"[run]\nbatch_bytes = {batch_bytes}\n")
    seconds, batches, _ = run_once(project_dir, False)
    result: dict[str, Any] = {"seconds": seconds, "batches": batches}
    if profiler is not None:
        result["profile"] = profiler.report()
    if kind == "headwater":
        result.update(check_shape(project_dir, shape))
    else:
        result["counts"] = _counts(project_dir)
    return result


def _counts(project_dir: Path) -> dict[str, int]:
    from headwater.api import Project

    names = ("read", "written", "deduplicated", "dropped", "quarantined")
    sums = ", ".join(f"sum(rows_{n})::BIGINT" for n in names)
    row = (
        Project(project_dir).query(f"SELECT {sums} FROM system.runs WHERE job = 'load_orders'").fetchall()[0]
    )
    return {n: int(v or 0) for n, v in zip(names, row, strict=True)}


def check_shape(project_dir: Path, shape: Shape) -> dict[str, Any]:
    """``ingest_guarantees.check_headwater`` for the flat columns; else the same checks at the
    shape's column paths."""
    from headwater.api import Project

    if shape.email == "email" and shape.customer == "customer_id":
        return check_headwater(project_dir)
    project = Project(project_dir)
    result: dict[str, Any] = {"counts": _counts(project_dir)}
    schema = project.query("SELECT * FROM bronze.orders LIMIT 0").arrow().schema
    result["columns"] = [f"{f.name} {f.type}" for f in schema]
    rows, clear, unhashed, unmasked, no_customer = project.query(
        rf"""SELECT count(*), count(*) FILTER (WHERE {shape.email} LIKE '%@%'),
                count(*) FILTER (WHERE NOT regexp_full_match({shape.email}, '[0-9a-f]{{64}}')),
                count(*) FILTER (WHERE NOT regexp_full_match(card, '\*{{12}}[0-9]{{4}}')),
                count(*) FILTER (WHERE {shape.customer} IS NULL)
            FROM bronze.orders"""
    ).fetchall()[0]
    quarantine_rows, quarantine_clear = project.query(
        r"""SELECT count(*), count(*) FILTER (WHERE regexp_matches(raw, '@example\.com|\d{3}-\d{2}-\d{4}'))
            FROM system.quarantine WHERE job = 'load_orders'"""
    ).fetchall()[0]
    result.update(
        rows=int(rows),
        clear_emails=int(clear),
        unhashed_emails=int(unhashed),
        unmasked_cards=int(unmasked),
        no_customer_rows=int(no_customer),
        quarantine_rows=int(quarantine_rows),
        quarantine_in_clear=int(quarantine_clear),
    )
    return result


def checks(
    shape: Shape, expected: dict[str, Any], runs: dict[str, dict[str, Any]]
) -> list[tuple[str, bool, str]]:
    head, plain = runs["headwater"], runs["plain"]
    c = head["counts"]
    out = [
        (
            "read = written + deduplicated + dropped + quarantined",
            c["read"] == c["written"] + c["deduplicated"] + c["dropped"] + c["quarantined"],
            f"{c['read']:,} = {c['written']:,} + {c['deduplicated']:,} + {c['dropped']:,} + {c['quarantined']:,}",
        )
    ]
    for name in ("read", "written", "deduplicated", "dropped", "quarantined"):
        want = expected["lines" if name == "read" else name]
        out.append((f"rows_{name} as injected", c[name] == want, f"{c[name]:,} (expected {want:,})"))
    ssn_field = shape.ssn.split(".")[-1]
    out += [
        ("table rows = rows_written", head["rows"] == c["written"], f"{head['rows']:,}"),
        (
            f"no {shape.ssn} stored",
            not any(ssn_field in str(col) for col in head["columns"]),
            "; ".join(map(str, head["columns"]))[:200],
        ),
        (
            "every email a SHA-256, none in clear",
            head["clear_emails"] == 0 and head["unhashed_emails"] == 0,
            f"{head['clear_emails']} with '@', {head['unhashed_emails']} not 64 hex digits",
        ),
        ("every card masked", head["unmasked_cards"] == 0, f"{head['unmasked_cards']} not"),
        (
            "WARN keeps the rows without a customer",
            head["no_customer_rows"] == expected["no_customer_written"],
            f"{head['no_customer_rows']:,} (expected {expected['no_customer_written']:,})",
        ),
        (
            "quarantine: every record, none in clear",
            head["quarantine_rows"] == c["quarantined"] and head["quarantine_in_clear"] == 0,
            f"{head['quarantine_rows']:,} records, {head['quarantine_in_clear']} in clear",
        ),
        (
            "hand holds the rows Headwater writes",
            runs["hand"]["rows"] == c["written"],
            f"{runs['hand']['rows']:,}",
        ),
        (
            "plain: every line written but the truncated ones (quarantined)",
            plain["counts"]["written"] == expected["lines"] - expected["malformed"]
            and plain["counts"]["quarantined"] == expected["malformed"],
            f"{plain['counts']['written']:,} written, {plain['counts']['quarantined']:,} quarantined",
        ),
    ]
    return out


# -- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shape", default="all", help=f"one or more (a,b) of {', '.join(SHAPES)}, or all (default)"
    )
    parser.add_argument("--rows", type=int, nargs="+", default=None, help="lines (--memory: several)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the median counts")
    parser.add_argument("--profile-ops", action="store_true", help="a profiled headwater run per shape")
    parser.add_argument("--memory", action="store_true", help="headwater's peak RSS for each --rows")
    parser.add_argument("--batch-bytes", type=int, default=0, help="[run] batch_bytes of the Headwater runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--worker", choices=["generate", *KINDS], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = list(SHAPES) if args.shape == "all" else args.shape.split(",")
    if any(n not in SHAPES for n in names):
        parser.error(f"--shape: one or more (a,b) of {', '.join(SHAPES)}, or all")

    if args.worker:
        shape = SHAPES[args.shape]
        if args.worker == "generate":
            result = write_shape(args.work / "landing", shape, args.rows[0])
            with pa.OSFile(str(args.work / "schema.arrow"), "wb") as f:
                f.write(_shape_schema(shape).serialize())
        else:
            result = measure(args.worker, args.work, shape, args.profile_ops, args.batch_bytes)
        print(json.dumps(result))
        return

    batch = ["--batch-bytes", str(args.batch_bytes)] if args.batch_bytes else []
    work = Path(tempfile.mkdtemp(prefix="headwater-shapes-"))
    print(machine() + f"; load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    try:
        if args.memory:
            memory(
                work,
                names[0] if args.shape != "all" else "flat",
                args.rows or [1_000_000, 4_000_000, 8_000_000],
                batch,
            )
        else:
            matrix(work, names, (args.rows or [1_000_000])[0], args.repeat, args.profile_ops, batch)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _shape_schema(shape: Shape) -> pa.Schema:
    table, _, _ = dirty_orders(1000)
    return shape.build(table).schema


def _child(kind: str, work: Path, shape: str, rows: int, *extra: str) -> tuple[dict[str, Any], int]:
    return run_child(__file__, kind, work, ["--shape", shape, "--rows", str(rows), *extra])


def matrix(work: Path, names: list[str], rows: int, repeat: int, profile_ops: bool, batch: list[str]) -> None:
    results: dict[str, dict[str, Any]] = {}
    failed = False
    for name in names:
        shape = SHAPES[name]
        started = time.perf_counter()
        expected, _ = _child("generate", work, name, rows)
        print(
            f"\n{name} ({shape.about}): {rows:,} lines in {expected['files']:,} files, "
            f"{expected['bytes'] / 1e6:,.0f} MB, {expected['columns']} columns; "
            f"generated in {time.perf_counter() - started:.1f} s; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        runs: dict[str, list[tuple[dict[str, Any], int]]] = {k: [] for k in KINDS}
        for _ in range(repeat):
            for kind in KINDS:
                runs[kind].append(_child(kind, work, name, rows, *batch))
        last = {k: v[-1][0] for k, v in runs.items()}
        seconds = {k: statistics.median(r["seconds"] for r, _ in v) for k, v in runs.items()}
        rss = {k: max(r for _, r in v) for k, v in runs.items()}
        for kind in KINDS:
            each = ", ".join(f"{r['seconds']:.2f}" for r, _ in runs[kind])
            print(
                f"  {kind:<10}{seconds[kind]:>7.2f} s{rows / seconds[kind]:>11,.0f} rows/s"
                f"{rss[kind] / 2**20:>8,.0f} MiB   ({each})"
            )
        for text, ok, detail in checks(shape, expected, last):
            failed |= not ok
            if not ok:
                print(f"  [FAIL] {text}: {detail}")
        if profile_ops:
            profiled, _ = _child("headwater", work, name, rows, "--profile-ops", *batch)
            print_operators(f"  {name}, profiled run ({profiled['seconds']:.2f} s)", profiled["profile"])
        results[name] = {"seconds": seconds, "rss": rss, "bytes": expected["bytes"]}
    print(f"\n{machine()}; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{rows:,} lines per shape" + (f", median of {repeat} runs" if repeat > 1 else ""))
    header = (
        f"{'shape':<12}{'MB':>6}{'raw s':>8}{'hand s':>8}{'hw s':>8}{'plain s':>9}"
        f"{'hw rows/s':>11}{'hw/hand':>9}{'plain/raw':>10}{'hw RSS':>9}"
    )
    print(header + "\n" + "-" * len(header))
    for name, r in results.items():
        s = r["seconds"]
        rate = rows / s["headwater"]
        print(
            f"{name:<12}{r['bytes'] / 1e6:>6,.0f}{s['raw']:>8.2f}{s['hand']:>8.2f}{s['headwater']:>8.2f}"
            f"{s['plain']:>9.2f}{rate:>11,.0f}{_mark(s['hand'] / s['headwater'], TARGET_HAND):>9}"
            f"{_mark(s['raw'] / s['plain'], TARGET_RAW):>10}{r['rss']['headwater'] / 2**20:>5,.0f} MiB"
            + ("" if rate >= TARGET_RATE else "  (rows/s < 150k)")
        )
    print(
        f"targets: hw/hand >= {TARGET_HAND}, hw >= {TARGET_RATE:,} rows/s, plain/raw >= {TARGET_RAW} (* missed)"
    )
    print("all checks passed" if not failed else "SOME CHECKS FAILED")
    if failed:
        raise SystemExit(1)


def _mark(ratio: float, target: float) -> str:
    return f"{ratio:.2f}" + (" " if ratio >= target else "*")


def memory(work: Path, name: str, sizes: list[int], batch: list[str]) -> None:
    print(f"\npeak RSS of headwater run --once with all guarantees, shape {name}:")
    peaks: list[tuple[int, float, int]] = []
    for rows in sizes:
        expected, _ = _child("generate", work, name, rows)
        result, rss = _child("headwater", work, name, rows, *batch)
        c = result["counts"]
        ok = c["read"] == rows and c["written"] == expected["written"]
        peaks.append((rows, result["seconds"], rss))
        growth = rss / peaks[0][2] - 1
        print(
            f"  {rows:>11,} lines {expected['bytes'] / 1e6:>7,.0f} MB {result['seconds']:>7.1f} s "
            f"{rows / result['seconds']:>9,.0f} rows/s  peak RSS {rss / 2**20:>7,.0f} MiB "
            f"({growth:+.1%} from {sizes[0]:,}), {result['batches']} commits, counts {'ok' if ok else 'WRONG'}; "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        if not ok:
            raise SystemExit(f"wrong counts for {rows:,} lines: {c}")
        shutil.rmtree(work / "landing", ignore_errors=True)
    top = max(r for _, _, r in peaks)
    growth = peaks[-1][2] / peaks[0][2] - 1
    print(
        f"max {top / 2**20:,.0f} MiB (target <= {TARGET_RSS / 2**20:,.0f} MiB: {'met' if top <= TARGET_RSS else 'missed'}), "
        f"growth {growth:+.1%} (target <= +{TARGET_GROWTH:.0%}: {'met' if growth <= TARGET_GROWTH else 'missed'})"
    )


if __name__ == "__main__":
    main()
