"""File ingestion throughput: Headwater against DuckDB's own ``read_json``, measured in one run.

    python bench/ingest_files.py [--rows N] [--files F] [--repeat R] [--profile]

Writes N JSON-lines orders (nested ``customer`` object, ISO timestamps) into F files in a
temporary folder, then measures, each in a fresh process:

  a. DuckDB: ``CREATE TABLE t AS SELECT * FROM read_json(...)`` into a DuckDB database file;
  b. Headwater: ``Project.run(once=True)`` of a project with one files connection and one
     ingestion job (parsing, planning, deploying, reading, typing, writing, committing).

It checks that both hold N rows and prints rows/s, the ratio b/a and each process's peak RSS,
then where Headwater's time went, step by step (timers around its internal functions; a step
that a version of Headwater does not have is left out). With ``--repeat R`` each measurement
runs R times (alternating) and the median run is shown. ``--profile`` also runs (b) under
cProfile and prints the profile to stderr.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import pstats
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
from _common import instrument, machine, new_project, print_steps, run_child, run_once

from headwater.demo.data import COUNTRIES, STATUS_SHARES, STATUSES, iso_utc, pick

PROJECT_SQL = """
CREATE FILES CONNECTION landing PATH = '{landing}';
CREATE TABLE bronze.orders;
CREATE JOB load_orders EVENT_TIME = ordered_at
AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders;
"""


# -- data ------------------------------------------------------------------------------------
def orders(rng: np.random.Generator, first_id: int, n: int, start: datetime) -> pa.Table:
    customer_ids = rng.integers(1, 50_001, n)
    emails = np.char.add(np.char.add("customer", customer_ids.astype(str)), "@example.com")
    seconds = np.sort(int(start.timestamp()) + rng.integers(0, 30 * 86_400, n))
    countries = tuple(c for c, _, _ in COUNTRIES)
    customer = pa.StructArray.from_arrays(
        [
            pa.array(customer_ids),
            pa.array(emails, pa.string()),
            pick(rng, countries, tuple(s for _, s, _ in COUNTRIES), n),
        ],
        names=["id", "email", "country"],
    )
    return pa.table(
        {
            "order_id": np.arange(first_id, first_id + n, dtype=np.int64),
            "ordered_at": iso_utc(seconds),
            "status": pick(rng, STATUSES, STATUS_SHARES, n),
            "amount": pa.array(rng.integers(100, 50_000, n) / 100.0),
            "items": pa.array(rng.integers(1, 8, n)),
            "customer": customer,
        }
    )


def write_data(landing: Path, rows: int, files: int, seed: int = 7) -> int:
    """Write ``rows`` orders into ``files`` JSON-lines files; returns the bytes written."""
    import polars as pl

    landing.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    bounds = np.linspace(0, rows, files + 1).astype(int)
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds), start=1):
        frame = pl.from_arrow(orders(rng, int(lo) + 1, int(hi - lo), start))
        assert isinstance(frame, pl.DataFrame)
        frame.write_ndjson(landing / f"orders-{i:02d}.jsonl")
    return sum(p.stat().st_size for p in landing.glob("*.jsonl"))


# -- the two measurements, each run in its own process ----------------------------------------
# Steps of Headwater's run to time: (label, module, function). Indented labels are parts of the
# step above them.
STEPS = (
    ("plan and deploy", "headwater.runner.loop", "Runner._deploy"),
    ("read files, cut into lines (a thread, alongside)", "headwater.sources.files", "FilesSource.poll"),
    ("classify each chunk (before the transaction)", "headwater.runner.ingest", "Batch._stage"),
    ("  plan the chunk (UTF-8 check, sample)", "headwater.runner.ingest", "decode"),
    ("  one query: typed, transformed, classified", "headwater.quality.batch", "evaluate"),
    ("write the chunks and commit (one transaction)", "headwater.runner.ingest", "Batch.commit"),
    ("  mark duplicates", "headwater.quality.batch", "mark_duplicates"),
    ("  INSERT into the lake (Parquet)", "headwater.runner.ingest", "_write"),
    ("  quarantine", "headwater.quality.quarantine", "write"),
)
# Steps that run in another thread, at the same time as the others: not part of the sum.
CONCURRENT = {"read files, cut into lines (a thread, alongside)"}


def measure_duckdb(work: Path) -> dict[str, Any]:
    import duckdb

    database = work / "raw.duckdb"
    database.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(database))
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{work / 'landing'}/*.jsonl')")
    con.close()  # includes the checkpoint that writes the table to the file
    seconds = time.perf_counter() - started
    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM t").fetchone()
    return {"seconds": seconds, "rows": int(row[0]) if row else 0}


def measure_headwater(work: Path, profile: bool) -> dict[str, Any]:
    from headwater.api import Project

    project_dir = new_project(work, PROJECT_SQL.format(landing=work / "landing"))
    steps: dict[str, float] = collections.defaultdict(float)
    instrument(steps, STEPS)
    seconds, batches, profiler = run_once(project_dir, profile)
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(15)
    ((count,),) = Project(project_dir).query("SELECT count(*) FROM bronze.orders").fetchall()
    return {
        "seconds": seconds,
        "rows": int(count),
        "batches": batches,
        "steps": steps,
    }


def run_worker(kind: str, work: Path, profile: bool) -> tuple[dict[str, Any], int]:
    """Run one measurement in a child process; returns its result and its peak RSS in bytes."""
    return run_child(__file__, kind, work, ["--profile"] if profile else [])


# -- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the median counts")
    parser.add_argument("--profile", action="store_true", help="profile Headwater's run (to stderr)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--worker", choices=["duckdb", "headwater"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = (
            measure_duckdb(args.work)
            if args.worker == "duckdb"
            else measure_headwater(args.work, args.profile)
        )
        print(json.dumps(result))
        return

    work = Path(tempfile.mkdtemp(prefix="headwater-bench-"))
    try:
        started = time.perf_counter()
        size = write_data(work / "landing", args.rows, args.files)
        print(
            f"wrote {args.rows:,} orders in {args.files} JSON-lines files ({size / 1e6:,.0f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        duck_runs, head_runs = [], []
        for _ in range(args.repeat):
            duck_runs.append(run_worker("duckdb", work, False))
            head_runs.append(run_worker("headwater", work, args.profile))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    for name, runs in (("DuckDB", duck_runs), ("Headwater", head_runs)):
        for res, _ in runs:
            if res["rows"] != args.rows:
                raise SystemExit(f"{name} holds {res['rows']:,} rows, expected {args.rows:,}")
    print("\n" + machine())
    runs = f", median of {args.repeat} runs" if args.repeat > 1 else ""
    print(f"{args.rows:,} rows, {size / 1e6:,.0f} MB of JSON lines{runs}")
    header = f"{'':<32}{'seconds':>9}{'rows/s':>13}{'MB/s':>9}{'peak RSS':>13}"
    print(header)
    print("-" * len(header))
    medians = {}
    for label, runs_ in (("a. DuckDB read_json -> table", duck_runs), ("b. Headwater run --once", head_runs)):
        seconds = statistics.median(res["seconds"] for res, _ in runs_)
        rss = max(r for _, r in runs_)
        medians[label[0]] = seconds
        print(
            f"{label:<32}{seconds:>9.2f}{args.rows / seconds:>13,.0f}{size / 1e6 / seconds:>9.1f}"
            f"{rss / 2**20:>9,.0f} MiB"
        )
        if len(runs_) > 1:
            each = ", ".join(f"{res['seconds']:.2f}" for res, _ in runs_)
            print(f"{'':<4}each run: {each} s")
    commits = head_runs[0][0]["batches"]
    print(f"\nratio b/a (rows/s): {medians['a'] / medians['b']:.2f}x   (Headwater made {commits} commit(s))")
    median_run = sorted((res for res, _ in head_runs), key=lambda r: r["seconds"])[len(head_runs) // 2]
    print_steps(median_run, STEPS, CONCURRENT)


if __name__ == "__main__":
    main()
