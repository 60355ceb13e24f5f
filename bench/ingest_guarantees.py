"""Ingestion with guarantees: Headwater against DuckDB and dlt on dirty JSON lines, in one run.

    python bench/ingest_guarantees.py [--rows N] [--dlt-rows M] [--repeat R] [--trace] [--profile FILE]

Writes N JSON-lines orders into 4 files in a temporary folder, with dirt injected: 5% of the
lines are exact re-sends of an earlier order, 2% have a negative amount, 0.5% an unknown status,
1% no customer_id, and 0.1% are truncated JSON. Every order carries an email, a card number and
an SSN. Then measures, each in a fresh process (peak RSS from ``wait4``):

  a. DuckDB raw: ``CREATE TABLE t AS SELECT * FROM read_json(..., ignore_errors=true)``
     into a DuckDB file: no guarantees at all, the floor;
  b. DuckDB by hand: the same guarantees as one SQL statement (``read_ndjson_objects`` with
     ``ignore_errors``, ``json_transform``, salted ``sha256``, a mask, the SSN left out, a
     ``WHERE`` for the DROP and QUARANTINE expectations, ``QUALIFY row_number()`` to dedupe)
     into a DuckDB file: no quarantine, no counts, no offsets, nothing to resume;
  c. Headwater: ``Project.run(once=True)`` of the project in ``PROJECT_SQL``;
  d. dlt: a Python generator reads the lines, skips malformed ones, applies the same
     hash / mask / exclude / filters, and ``dlt.pipeline(...).run`` merges it into DuckDB
     with ``write_disposition="merge", primary_key="order_id"`` (dlt's defaults otherwise).
     dlt runs on ``--dlt-rows`` rows (default 200,000) because it is far slower; rows/s is
     compared.

It prints rows/s (the median of ``--repeat`` runs), the ratios c/a, c/b, c/d, each process's
peak RSS and the load average around the run, and checks that
Headwater's ``system.runs`` accounts for every line (read = written + deduplicated + dropped
+ quarantined), that the counts match the injected dirt exactly, and that ``bronze.orders``
and ``system.quarantine`` hold no SSN and no email in clear; it exits 1 if a check fails.
``--trace`` prints where Headwater's time goes, by stage and by SQL statement; ``--profile FILE``
writes a cProfile of Headwater's run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from _common import machine, new_project, run_child, run_once, timed_ctas

FILES = 4
KINDS = ("raw", "hand", "headwater", "dlt")
SALT = "bench-salt-0b9c"  # (b) and (d): a fixed salt; Headwater uses its project secret
STATUSES = ("new", "paid", "shipped")
DUPLICATES, NEGATIVE, BAD_STATUS, NO_CUSTOMER, MALFORMED = 0.05, 0.02, 0.005, 0.01, 0.001

PROJECT_SQL = """
CREATE FILES CONNECTION landing PATH = '{landing}';
CREATE TABLE bronze.orders;
CREATE JOB load_orders
  DEDUPLICATE_WITH = (COLUMNS = (order_id), WINDOW = 4 HOURS)
  COLUMN_TRANSFORMATIONS = (email = HASH(email), card = MASK(card, 4))
  EXCLUDE_COLUMNS = (ssn)
AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders
WITH EXPECTATION positive_amount EXPECT amount > 0 ON VIOLATION DROP
WITH EXPECTATION known_status EXPECT status IN ('new','paid','shipped') ON VIOLATION QUARANTINE
WITH EXPECTATION has_customer EXPECT customer_id IS NOT NULL ON VIOLATION WARN;
"""

# (b): the guarantees hand-written as one DuckDB statement.
HAND_SQL = """
CREATE TABLE orders AS
SELECT o.* EXCLUDE (email, card, ssn),
       sha256('{salt}' || o.email) AS email,
       repeat('*', greatest(length(o.card) - 4, 0)) || right(o.card, 4) AS card
FROM (
    SELECT unnest(json_transform(json, '{{"order_id": "BIGINT", "created_at": "TIMESTAMPTZ",
        "status": "VARCHAR", "amount": "DOUBLE", "customer_id": "BIGINT", "email": "VARCHAR",
        "card": "VARCHAR", "ssn": "VARCHAR"}}'))
    FROM read_ndjson_objects('{landing}/*.jsonl', ignore_errors = true)
) o
WHERE o.amount > 0 AND o.status IN ('new', 'paid', 'shipped')
QUALIFY row_number() OVER (PARTITION BY o.order_id) = 1
"""


# -- data ------------------------------------------------------------------------------------
def orders(rng: np.random.Generator, n: int, start: datetime) -> pa.Table:
    """n distinct orders, with the value-level dirt (negative amounts, unknown statuses, no customer)."""
    customer = rng.integers(1, 100_001, n)
    email = np.char.add(np.char.add("customer", customer.astype(str)), "@example.com")
    amount = rng.integers(100, 50_000, n) / 100.0
    amount[rng.random(n) < NEGATIVE] *= -1
    status = np.array(STATUSES, dtype=object)[rng.integers(0, len(STATUSES), n)]
    status[rng.random(n) < BAD_STATUS] = "lost"
    card = np.char.add("4", rng.integers(10**14, 10**15, n).astype(str))  # 16 digits
    ssn = rng.integers(100_000_000, 1_000_000_000, n).astype(str)
    ssn = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(ssn, 0, 3),
        pc.utf8_slice_codeunits(ssn, 3, 5),
        pc.utf8_slice_codeunits(ssn, 5, 9),
        "-",
    )
    seconds = int(start.timestamp()) + np.sort(rng.integers(0, 3 * 3600, n))
    created = pc.strftime(pa.array(seconds.astype("datetime64[s]")), format="%Y-%m-%dT%H:%M:%SZ")
    return pa.table(
        {
            "order_id": np.arange(1, n + 1, dtype=np.int64),
            "created_at": created,
            "status": pa.array(status, pa.string()),
            "amount": amount,
            "customer_id": pa.array(customer, mask=rng.random(n) < NO_CUSTOMER),
            "email": pa.array(email, pa.string()),
            "card": pa.array(card, pa.string()),
            "ssn": ssn,
        }
    )


def dirty_orders(rows: int, seed: int = 11) -> tuple[pa.Table, np.ndarray, dict[str, Any]]:
    """``rows`` orders in the order they are sent (re-sends included), the (0-based) lines to
    truncate, and the counts a run with the guarantees of ``PROJECT_SQL`` must report."""
    rng = np.random.default_rng(seed)
    dupes = round(rows * DUPLICATES)
    unique = rows - dupes
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    base = orders(rng, unique, start)
    # A re-send follows its original by up to 50,000 lines (possibly in a later file).
    source = rng.choice(unique, dupes, replace=False)
    place = np.concatenate([np.arange(unique, dtype=np.float64), source + rng.uniform(0.5, 50_000, dupes)])
    order = np.argsort(place, kind="stable")
    index = np.concatenate([np.arange(unique), source])[order]
    is_copy = order >= unique
    table = base.take(pa.array(index))
    # Truncated lines: only among orders sent once, so every count below is exact.
    once = np.ones(unique, dtype=bool)
    once[source] = False
    candidates = np.flatnonzero(once[index])
    broken = np.sort(rng.choice(candidates, round(rows * MALFORMED), replace=False))

    good = pc.and_(pc.greater(base["amount"], 0), pc.is_in(base["status"], pa.array(STATUSES)))
    good_np = good.to_numpy(zero_copy_only=False)
    bad_status_np = ~pc.is_in(base["status"], pa.array(STATUSES)).to_numpy(zero_copy_only=False)
    broken_np = np.zeros(rows, dtype=bool)
    broken_np[broken] = True
    line_good, line_bad_status = good_np[index], bad_status_np[index]
    expected = {
        "lines": rows,
        "duplicates_injected": dupes,
        "malformed": len(broken),
        "negative_amount_lines": int((base["amount"].to_numpy() <= 0)[index].sum()),
        "written": int((line_good & ~is_copy & ~broken_np).sum()),
        "deduplicated": int((line_good & is_copy).sum()),
        "dropped": int((~line_good & ~line_bad_status & ~broken_np).sum()),
        "quarantined": int((line_bad_status & ~broken_np).sum()) + len(broken),
        "no_customer_written": int(
            (
                line_good
                & ~is_copy
                & ~broken_np
                & ~pc.is_valid(base["customer_id"]).to_numpy(zero_copy_only=False)[index]
            ).sum()
        ),
    }
    return table, broken, expected


def write_data(landing: Path, rows: int, seed: int = 11) -> dict[str, Any]:
    """Write ``rows`` lines (re-sends included) into FILES files; returns what was injected."""
    import duckdb

    landing.mkdir(parents=True, exist_ok=True)
    table, broken, expected = dirty_orders(rows, seed)

    con = duckdb.connect()
    bounds = np.linspace(0, rows, FILES + 1).astype(int)
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds), start=1):
        part = table.slice(lo, hi - lo)  # noqa: F841 (read by DuckDB by name)
        path = landing / f"orders-{i:02d}.jsonl"
        con.execute(f"COPY (SELECT * FROM part) TO '{path}' (FORMAT JSON)")
        mine = broken[(broken >= lo) & (broken < hi)] - lo
        if len(mine):
            _truncate_lines(path, mine)
    con.close()
    expected["bytes"] = sum(p.stat().st_size for p in landing.glob("*.jsonl"))
    return expected


def _truncate_lines(path: Path, lines: np.ndarray) -> None:
    """Cut the given (0-based) lines of ``path`` in half, keeping their newline: truncated JSON."""
    buf = np.fromfile(path, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], ends[:-1] + 1])
    cut_from = starts[lines] + (ends[lines] - starts[lines]) // 2
    delta = np.zeros(len(buf) + 1, dtype=np.int8)
    np.add.at(delta, cut_from, 1)
    np.add.at(delta, ends[lines], -1)
    keep = np.cumsum(delta[:-1], dtype=np.int8) == 0
    buf[keep].tofile(path)


# -- the four measurements, each run in its own process ---------------------------------------
def measure_raw(work: Path) -> dict[str, Any]:
    glob = work / "landing" / "*.jsonl"
    return timed_ctas(
        work / "raw.duckdb", f"CREATE TABLE t AS SELECT * FROM read_json('{glob}', ignore_errors = true)", "t"
    )


def measure_hand(work: Path) -> dict[str, Any]:
    return timed_ctas(work / "hand.duckdb", HAND_SQL.format(salt=SALT, landing=work / "landing"), "orders")


def measure_headwater(work: Path, profile: str | None, trace: bool) -> dict[str, Any]:
    tracer = StatementTimer() if trace else None
    project_dir = new_project(work, PROJECT_SQL.format(landing=work / "landing"))
    seconds, batches, profiler = run_once(project_dir, bool(profile))
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    if tracer is not None:
        tracer.report(seconds)
    return {"seconds": seconds, "batches": batches, **check_headwater(project_dir)}


# Stages of Headwater's ingestion, told apart by the SQL they run (first match wins).
STAGES = (
    ("JSON split: is each line a JSON object", r"json_valid\(|json_type\("),
    ("structure inference (sample, keys, timestamps)", r"json_group_structure|json_keys|regexp_full_match"),
    ("json_transform + typing (TRY_CAST)", r"json_transform|hw_typed|hw_extracted"),
    ("dedupe (window + key state)", r"__hw_bucket = 'duplicate'|headwater\.dedupe"),
    ("quarantine records", r"system\.quarantine|to_json\(struct_pack"),
    ("quality: hash/mask/exclude, expectations", r"hw_quality"),
    ("Parquet write (INSERT into the lake table)", r"INSERT INTO lake\.\"bronze\""),
    ("commit", r"^COMMIT"),
    ("lake maintenance (compaction)", r"ducklake_"),
)


class StatementTimer:
    """Wraps the lake's DuckDB connection to time each statement Headwater runs (--trace)."""

    def __init__(self) -> None:
        import headwater.lake.engine as engine

        self.times: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        original = engine.Lake.__init__
        timer = self

        def init(lake: Any, *args: Any, **kwargs: Any) -> None:
            original(lake, *args, **kwargs)
            lake.con = _TimedConnection(lake.con, timer)

        engine.Lake.__init__ = init  # type: ignore[method-assign]

    def add(self, sql: str, seconds: float) -> None:
        # (each chunk's temp tables are numbered: the same statement for every chunk)
        key = re.sub(r"\b(hw_\w+?)_\d+\b", r"\1_N", " ".join(str(sql).split()))[:100]
        self.times[key] = self.times.get(key, 0.0) + seconds
        self.counts[key] = self.counts.get(key, 0) + 1

    def report(self, total: float) -> None:
        stages: dict[str, float] = {}
        for sql, seconds in self.times.items():
            stage = next(
                (name for name, rx in STAGES if re.search(rx, sql)), "other (catalog, offsets, runs)"
            )
            stages[stage] = stages.get(stage, 0.0) + seconds
        out = sys.stderr
        print(
            f"\nHeadwater: {total:.2f} s in all, {sum(self.times.values()):.2f} s in DuckDB statements",
            file=out,
        )
        for name, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
            print(f"  {seconds:7.2f} s {100 * seconds / total:4.0f}%  {name}", file=out)
        print("slowest statements (seconds, calls, SQL):", file=out)
        for sql, seconds in sorted(self.times.items(), key=lambda kv: -kv[1])[
            : int(os.environ.get("TRACE_TOP", "15"))
        ]:
            print(f"  {seconds:7.2f} {self.counts[sql]:>4}  {sql}", file=out)


class _TimedConnection:
    def __init__(self, con: Any, timer: StatementTimer) -> None:
        self._con, self._timer = con, timer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            self._timer.add(sql, time.perf_counter() - started)

    def sql(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        rel = self._con.sql(sql, *args, **kwargs)
        self._timer.add(sql, time.perf_counter() - started)
        return None if rel is None else _TimedRelation(rel, sql, self._timer)


class _TimedRelation:
    """A relation runs when its result is fetched: the time counts for the SQL it came from."""

    def __init__(self, rel: Any, sql: str, timer: StatementTimer) -> None:
        self._rel, self._sql, self._timer = rel, sql, timer

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._rel, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            out = attr(*args, **kwargs)
            if type(out).__name__ == "DuckDBPyRelation":
                return _TimedRelation(out, f"{self._sql} .{name}({args[0] if args else ''})", self._timer)
            self._timer.add(self._sql, time.perf_counter() - started)
            return out

        return call


def check_headwater(project_dir: Path) -> dict[str, Any]:
    """What the lake says: the run counts, the columns and a privacy scan."""
    from headwater.api import Project

    project = Project(project_dir)

    def one(sql: str) -> tuple[Any, ...]:
        return project.query(sql).fetchall()[0]

    names = ("read", "written", "deduplicated", "dropped", "quarantined")
    sums = ", ".join(f"sum(rows_{n})::BIGINT" for n in names)
    counts = dict(zip(names, one(f"SELECT {sums} FROM system.runs WHERE job = 'load_orders'"), strict=True))
    columns = project.query("SELECT * FROM bronze.orders LIMIT 0").columns
    (rows, clear_email, unhashed, unmasked, no_customer) = one(
        r"""SELECT count(*),
                   count(*) FILTER (WHERE email LIKE '%@%'),
                   count(*) FILTER (WHERE NOT regexp_full_match(email, '[0-9a-f]{64}')),
                   count(*) FILTER (WHERE NOT regexp_full_match(card, '\*{12}[0-9]{4}')),
                   count(*) FILTER (WHERE customer_id IS NULL)
            FROM bronze.orders"""
    )
    (quarantine_rows, quarantine_clear) = one(
        r"""SELECT count(*), count(*) FILTER (WHERE regexp_matches(raw, '@example\.com|\d{3}-\d{2}-\d{4}'))
            FROM system.quarantine WHERE job = 'load_orders'"""
    )
    (warned,) = one(
        "SELECT sum(violations)::BIGINT FROM system.expectations "
        "WHERE job = 'load_orders' AND expectation = 'has_customer'"
    )
    return {
        "rows": int(rows),
        "counts": {k: int(v or 0) for k, v in counts.items()},
        "columns": columns,
        "clear_emails": int(clear_email),
        "unhashed_emails": int(unhashed),
        "unmasked_cards": int(unmasked),
        "no_customer_rows": int(no_customer),
        "warned_no_customer": int(warned or 0),
        "quarantine_rows": int(quarantine_rows),
        "quarantine_in_clear": int(quarantine_clear),
    }


def measure_dlt(work: Path, rows: int) -> dict[str, Any]:
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    import hashlib

    import dlt
    import duckdb
    import orjson

    landing = work / "landing-dlt" if rows else work / "landing"  # rows = 0: the same files
    database = work / "dlt.duckdb"
    database.unlink(missing_ok=True)
    shutil.rmtree(work / "dlt-pipelines", ignore_errors=True)
    salt = SALT.encode()

    def lines() -> Any:
        """dlt's normal shape: parse each line, skip what does not parse, map and filter in Python."""
        page = []
        for path in sorted(landing.glob("*.jsonl")):
            with open(path, "rb") as f:
                for line in f:
                    try:
                        row = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue
                    amount = row.get("amount")
                    if amount is None or amount <= 0 or row.get("status") not in STATUSES:
                        continue
                    row.pop("ssn", None)
                    if row.get("email") is not None:
                        row["email"] = hashlib.sha256(salt + row["email"].encode()).hexdigest()
                    card = row.get("card")
                    if card is not None:
                        row["card"] = "*" * max(len(card) - 4, 0) + card[-4:]
                    page.append(row)
                    if len(page) == 10_000:
                        yield page
                        page = []
        if page:
            yield page

    resource = dlt.resource(lines, name="orders", write_disposition="merge", primary_key="order_id")
    pipeline = dlt.pipeline(
        pipeline_name="bench_orders",
        pipelines_dir=str(work / "dlt-pipelines"),
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="bronze",
    )
    started = time.perf_counter()
    pipeline.run(resource)
    seconds = time.perf_counter() - started
    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM bronze.orders").fetchone()
    return {"seconds": seconds, "rows": int(row[0]) if row else 0}


def run_worker(kind: str, work: Path, extra: list[str]) -> tuple[dict[str, Any], int]:
    """Run one step in a child process; returns its result and its peak RSS in bytes."""
    return run_child(__file__, kind, work, extra)


# -- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument(
        "--dlt-rows", type=int, default=200_000, help="lines for dlt (0: the same files as the others)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the median counts")
    parser.add_argument("--profile", metavar="FILE", help="run Headwater under cProfile, stats to FILE")
    parser.add_argument(
        "--trace", action="store_true", help="print where Headwater's time goes, by SQL statement and stage"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--worker", choices=["generate", *KINDS], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    dlt_rows = args.dlt_rows if args.dlt_rows and args.dlt_rows < args.rows else 0

    if args.worker:
        work = args.work
        if args.worker == "generate":
            result = {"main": write_data(work / "landing", args.rows)}
            if dlt_rows:
                result["dlt"] = write_data(work / "landing-dlt", dlt_rows)
        elif args.worker == "raw":
            result = measure_raw(work)
        elif args.worker == "hand":
            result = measure_hand(work)
        elif args.worker == "headwater":
            result = measure_headwater(work, args.profile, args.trace)
        else:
            result = measure_dlt(work, dlt_rows)
        print(json.dumps(result))
        return

    # Every step runs in a child process and this one stays small: a child's peak RSS (from
    # wait4) starts from its parent's size at the fork.
    work = Path(tempfile.mkdtemp(prefix="headwater-bench-"))
    load_before = os.getloadavg()[0]
    try:
        started = time.perf_counter()
        data, _ = run_worker("generate", work, ["--rows", str(args.rows), "--dlt-rows", str(args.dlt_rows)])
        expected = data["main"]
        print(
            f"wrote {args.rows:,} lines in {FILES} JSON-lines files ({expected['bytes'] / 1e6:,.0f} MB): "
            f"{expected['duplicates_injected']:,} re-sends, {expected['negative_amount_lines']:,} negative "
            f"amounts, {expected['malformed']:,} truncated lines; {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        runs: dict[str, list[tuple[dict[str, Any], int]]] = {k: [] for k in KINDS}
        for round_ in range(args.repeat):
            for kind in KINDS:
                extra = ["--rows", str(args.rows), "--dlt-rows", str(args.dlt_rows)]
                if kind == "headwater" and args.profile and round_ == 0:
                    extra += ["--profile", str(Path(args.profile).resolve())]
                if kind == "headwater" and args.trace and round_ == 0:
                    extra.append("--trace")
                runs[kind].append(run_worker(kind, work, extra))
                print(f"  {kind}: {runs[kind][-1][0]['seconds']:.1f} s", flush=True)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()[0]
    report(args.rows, expected, runs, dlt_rows, data.get("dlt", expected), (load_before, load))


def report(
    rows: int,
    expected: dict[str, Any],
    runs: dict[str, list[tuple[dict[str, Any], int]]],
    dlt_rows: int,
    dlt_expected: dict[str, Any],
    load: tuple[float, float],
) -> None:
    import dlt

    repeat = len(runs["headwater"])
    print(
        "\n" + machine(f"dlt {dlt.__version__}") + f"; load average {load[0]:.1f} before, {load[1]:.1f} after"
    )
    print(
        f"{rows:,} lines, {expected['bytes'] / 1e6:,.0f} MB of JSON lines (rows/s = lines read / s)"
        + (f", median of {repeat} runs" if repeat > 1 else "")
    )
    header = f"{'':<40}{'lines':>11}{'seconds':>9}{'rows/s':>12}{'MB/s':>8}{'peak RSS':>13}"
    print(header)
    print("-" * len(header))
    labels = {
        "raw": "a. DuckDB read_json -> table",
        "hand": "b. DuckDB, guarantees by hand (1 SQL)",
        "headwater": "c. Headwater run --once",
        "dlt": "d. dlt merge -> DuckDB",
    }
    speed, rss = {}, {}
    for kind, label in labels.items():
        seconds = statistics.median(res["seconds"] for res, _ in runs[kind])
        rss[kind] = max(r for _, r in runs[kind])
        n, size = (
            (dlt_rows, dlt_expected["bytes"]) if kind == "dlt" and dlt_rows else (rows, expected["bytes"])
        )
        speed[kind] = n / seconds
        print(
            f"{label:<40}{n:>11,}{seconds:>9.2f}{speed[kind]:>12,.0f}{size / 1e6 / seconds:>8.1f}"
            f"{rss[kind] / 2**20:>9,.0f} MiB"
        )
        if repeat > 1:
            each = ", ".join(f"{res['seconds']:.2f}" for res, _ in runs[kind])
            print(f"{'':<4}each run: {each} s")
    head = runs["headwater"][-1][0]
    print(
        f"\nc/a = {speed['headwater'] / speed['raw']:.2f}   (target >= 0.5)\n"
        f"c/b = {speed['headwater'] / speed['hand']:.2f}   (target >= 0.8)\n"
        f"c/d = {speed['headwater'] / speed['dlt']:.1f}   (target >= 10)"
        + (f"   dlt on {dlt_rows:,} lines, rows/s compared" if dlt_rows else "")
        + f"\nHeadwater peak RSS = {rss['headwater'] / 2**20:,.0f} MiB   (target <= 1.5 GB = 1,431 MiB); "
        f"{head['batches']} commit(s)"
    )

    # -- correctness --------------------------------------------------------------------------
    counts = head["counts"]
    checks = [
        (
            "system.runs: read = written + deduplicated + dropped + quarantined",
            counts["read"]
            == counts["written"] + counts["deduplicated"] + counts["dropped"] + counts["quarantined"],
            f"{counts['read']:,} = {counts['written']:,} + {counts['deduplicated']:,} + "
            f"{counts['dropped']:,} + {counts['quarantined']:,}",
        ),
    ]
    for name in ("read", "written", "deduplicated", "dropped", "quarantined"):
        want = expected["lines" if name == "read" else name]
        checks.append(
            (f"rows_{name} as injected", counts[name] == want, f"{counts[name]:,} (expected {want:,})")
        )
    checks += [
        (
            "quarantined >= malformed lines",
            counts["quarantined"] >= expected["malformed"],
            f"{counts['quarantined']:,} >= {expected['malformed']:,}",
        ),
        ("bronze.orders rows = rows_written", head["rows"] == counts["written"], f"{head['rows']:,}"),
        ("no ssn column in bronze.orders", "ssn" not in head["columns"], ", ".join(head["columns"])),
        (
            "no email in clear; every email a SHA-256",
            head["clear_emails"] == 0 and head["unhashed_emails"] == 0,
            f"{head['clear_emails']} with '@', {head['unhashed_emails']} not 64 hex digits",
        ),
        ("every card masked to its last 4", head["unmasked_cards"] == 0, f"{head['unmasked_cards']} not"),
        (
            "WARN keeps rows without customer_id",
            head["no_customer_rows"] == expected["no_customer_written"],
            f"{head['no_customer_rows']:,} kept (expected {expected['no_customer_written']:,}), "
            f"{head['warned_no_customer']:,} violations counted",
        ),
        (
            "system.quarantine: every record, none in clear",
            head["quarantine_rows"] == counts["quarantined"] and head["quarantine_in_clear"] == 0,
            f"{head['quarantine_rows']:,} records, {head['quarantine_in_clear']} show an email or SSN",
        ),
        (
            "b. holds the same rows as Headwater",
            runs["hand"][-1][0]["rows"] == expected["written"],
            f"{runs['hand'][-1][0]['rows']:,}",
        ),
        (
            "a. holds a row per line (a truncated line as a row of NULLs)",
            runs["raw"][-1][0]["rows"] == rows,
            f"{runs['raw'][-1][0]['rows']:,}",
        ),
        (
            "d. holds the same rows as Headwater would",
            runs["dlt"][-1][0]["rows"] == dlt_expected["written"],
            f"{runs['dlt'][-1][0]['rows']:,} (expected {dlt_expected['written']:,})",
        ),
    ]
    print("\nchecks:")
    for text, ok, detail in checks:
        print(f"  [{'ok' if ok else 'FAIL'}] {text}: {detail}")
    if not all(ok for _, ok, _ in checks):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
