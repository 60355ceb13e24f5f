"""An hour of 1-second commits: files, snapshots and inlined rows left in the lake, with
Headwater's lake maintenance against the previous version's, measured in one run.

    python bench/small_commits.py [--commits 3600] [--rows 50] [--maintain-every 300]

Each commit is a real ingestion batch: a project with one files connection and one job, a
landing folder that gets ``--maintain-every`` new JSON-lines files of ``--rows`` rows at a
time, and ``[run] batch_bytes`` as small as one file, so that ``Project.run(once=True)`` commits
each file on its own (rows, offsets, run record, clock and job status in one transaction)
and then maintains the lake, as a continuous run does every ``maintenance_interval_seconds``.
So ``--maintain-every 300`` is maintenance every 5 minutes at one commit a second.

  a. previous: the maintenance of Headwater before data inlining and compaction (copied
     below: the dedupe state's compaction and the expiry of snapshots older than
     ``snapshot_retention_hours``), with DuckLake's default inlining limit (10 rows);
  b. headwater: this version (inlining up to ``INLINE_ROWS`` rows, expiry that keeps every
     snapshot of the last ``snapshot_keep_all_minutes`` and the last of each hour, flush of
     inlined rows, merge of small files, cleanup).

The commits take minutes, not an hour, so the time windows of (b) are scaled by the same
factor: ``snapshot_keep_all_minutes`` is set to the wall time of 600 commits (10 minutes at one
commit a second), measured on the first slice. The two ingestions run one after the other
(``--parallel``: at once, in two processes); then, in this process, each lake is opened and
measured: data files (live in the catalog, and Parquet files on disk), snapshots, rows kept
inline in the catalog, the catalog's size, and the time of a ``count(*)`` of the table and of a
query that reads its columns (median of 5 each).
Finally one maintenance of this version runs on lake (a), as on an existing lake that
upgrades after an hour without it, and is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine, new_project

SQL = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE JOB load AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.events;
"""


def previous_maintain(lake: Any, retention_hours: float, **_: Any) -> None:
    """Headwater's ``maintain`` before this version (``headwater/lake/maintenance.py`` at 006c358)."""
    from headwater.lake.names import INTERNAL_SCHEMA, LAKE

    interval = f"INTERVAL '{float(retention_hours) * 3600:.0f} seconds'"
    row = lake.fetchone(
        f"SELECT least(now() - {interval}, min(commit_time) - INTERVAL 1 MINUTE) "
        f"FROM {LAKE}.{INTERNAL_SCHEMA}.provisional"
    )
    cutoff = f"TIMESTAMPTZ '{row[0].isoformat()}'" if row and row[0] is not None else f"now() - {interval}"
    for sql in [
        f"CALL ducklake_flush_inlined_data('{LAKE}', schema_name => '{INTERNAL_SCHEMA}', table_name => 'dedupe')",
        f"CALL ducklake_rewrite_data_files('{LAKE}', 'dedupe', schema => '{INTERNAL_SCHEMA}', delete_threshold => 0.1)",
        f"CALL ducklake_merge_adjacent_files('{LAKE}', 'dedupe', schema => '{INTERNAL_SCHEMA}')",
        f"CALL ducklake_expire_snapshots('{LAKE}', older_than => {cutoff})",
        f"CALL ducklake_cleanup_old_files('{LAKE}', older_than => {cutoff})",
    ]:
        lake.execute(sql)


def write_slice(landing: Path, first: int, files: int, rows: int) -> int:
    """``files`` JSON-lines files of ``rows`` rows each; returns the smallest file's size."""
    smallest = 1 << 62
    for f in range(first, first + files):
        # Lines padded to one width (JSON allows the spaces): every file the same size.
        text = "".join(
            json.dumps(
                {"id": f * rows + i, "kind": "click", "user": f"u{(f * rows + i) % 997}", "amount": i * 0.25}
            ).ljust(95)
            + "\n"
            for i in range(rows)
        )
        (landing / f"f{f:06d}.jsonl").write_text(text)
        smallest = min(smallest, len(text))
    return smallest


def worker(kind: str, work: Path, commits: int, rows: int, every: int) -> dict[str, Any]:
    import headwater.lake.system_tables as system_tables
    import headwater.runner.loop as loop
    from headwater.api import Project
    from headwater.observe.events import BatchCommitted, CaptureConsole

    if kind == "previous":
        loop.maintain = previous_maintain  # type: ignore[assignment]
        system_tables.configure = lambda lake: None  # type: ignore[assignment]
    timings: list[float] = []
    real_maintain = loop.maintain

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        real_maintain(*args, **kwargs)
        timings.append(time.perf_counter() - started)

    loop.maintain = timed  # type: ignore[assignment]
    project = new_project(work, SQL)
    landing = project / "landing"
    landing.mkdir()
    done = 0
    ingest_seconds = 0.0
    keep_all = 10.0
    while done < commits:
        files = min(every, commits - done)
        size = write_slice(landing, done, files, rows)
        (project / "headwater.toml").write_text(
            f"[run]\nbatch_bytes = {size}\n[lake]\nsnapshot_keep_all_minutes = {keep_all}\n"
        )
        console = CaptureConsole()
        started = time.perf_counter()
        result = Project(project, console=console).run(once=True)
        ingest_seconds += time.perf_counter() - started - (timings[-1] if timings else 0.0)
        made = sum(isinstance(e, BatchCommitted) for e in console.events)
        if not result.ok or made != files:
            raise SystemExit(f"{kind}: {made} commits for {files} files: {result.failed_jobs}")
        done += files
        if done == files:  # the first slice: scale 600 commits (10 minutes at 1/s) to wall time
            keep_all = 600 * (ingest_seconds / files) / 60
        from headwater.lake.maintenance import lake_shape

        with Project(project).open_lake() as lake:
            shape = lake_shape(lake)
        print(
            f"{kind}: {done} commits, {timings[-1]:.2f} s maintenance: {shape}", file=sys.stderr, flush=True
        )
    return {
        "commits": done,
        "seconds_per_commit": ingest_seconds / done,
        "maintain_seconds": timings,
        "keep_all_minutes": keep_all,
    }


def measure(project: Path) -> dict[str, Any]:
    """The lake's shape, catalog size, files on disk and the time of a count(*)."""
    from headwater.api import Project
    from headwater.lake.maintenance import lake_shape

    state = project / ".headwater"
    out: dict[str, Any] = {
        "catalog_bytes": sum(p.stat().st_size for p in state.glob("catalog.ducklake*")),
        "parquet_on_disk": sum(1 for _ in (state / "data").rglob("*.parquet")),
    }
    hw = Project(project)
    with hw.open_lake() as lake:
        out.update(lake_shape(lake))
        for key, sql in (
            ("count_seconds", "SELECT count(*) FROM lake.bronze.events"),
            ("scan_seconds", "SELECT count(*), sum(amount), count(DISTINCT user) FROM lake.bronze.events"),
        ):
            times = []
            for _ in range(5):
                started = time.perf_counter()
                row = lake.fetchone(sql)
                times.append(time.perf_counter() - started)
            out[key] = statistics.median(times)
        out["rows"] = int(row[0]) if row else 0
    return out


def upgrade(project: Path, retention_hours: float, keep_all: float) -> float:
    """One maintenance of this version on a lake maintained the previous way: its seconds."""
    from headwater.api import Project
    from headwater.lake.maintenance import maintain

    with Project(project).open_lake() as lake:
        started = time.perf_counter()
        maintain(lake, retention_hours, keep_all_minutes=keep_all)
        return time.perf_counter() - started


def inline_cost(rows_list: list[int], commits: int = 100) -> None:
    """Median time of a commit of N rows (6 columns) into a DuckLake table, written as a
    Parquet file (inlining off) and inline in the catalog: what ``INLINE_ROWS`` trades."""
    from headwater.lake import Lake

    for rows in rows_list:
        medians = []
        for limit in (0, rows):
            with (
                tempfile.TemporaryDirectory() as folder,
                Lake(f"{folder}/c.ducklake", f"{folder}/data") as lake,
            ):
                lake.execute(f"CALL lake.set_option('data_inlining_row_limit', {limit})")
                lake.execute(
                    "CREATE TABLE lake.t (id BIGINT, ts TIMESTAMPTZ, s VARCHAR, a DOUBLE, src VARCHAR, r BIGINT)"
                )
                lake.execute(
                    "CREATE TEMP TABLE src AS SELECT range AS id, now() AS ts, 'paid' AS s, range / 10 AS a, "
                    f"'file:landing/x.jsonl:' || range AS src, 1 AS r FROM range({rows})"
                )
                times = []
                for _ in range(commits):
                    started = time.perf_counter()
                    with lake.transaction():
                        lake.execute("INSERT INTO lake.t SELECT * FROM src")
                    times.append(time.perf_counter() - started)
                medians.append(statistics.median(times) * 1000)
        print(
            f"{rows:6} rows a commit: Parquet file {medians[0]:.1f} ms, inlined {medians[1]:.1f} ms (median of {commits})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commits", type=int, default=3600)
    parser.add_argument("--rows", type=int, default=50, help="rows per commit")
    parser.add_argument("--maintain-every", type=int, default=300, help="commits between maintenances")
    parser.add_argument("--parallel", action="store_true", help="run the two ingestions at once")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--inline-cost",
        type=int,
        nargs="*",
        metavar="ROWS",
        help="only time commits of ROWS rows, inlined or not",
    )
    parser.add_argument("--worker", choices=["previous", "headwater"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inline_cost is not None:
        inline_cost(args.inline_cost or [10, 50, 100, 300, 1000])
        print(machine(f"load average {os.getloadavg()[0]:.1f}"))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.work, args.commits, args.rows, args.maintain_every)))
        return
    base = Path(tempfile.mkdtemp(prefix="hw-small-commits-"))
    try:
        kinds = ["previous", "headwater"]
        for kind in kinds:
            (base / kind).mkdir()
        extra = [
            f"--commits={args.commits}",
            f"--rows={args.rows}",
            f"--maintain-every={args.maintain_every}",
        ]
        cmds = {k: [sys.executable, __file__, "--worker", k, "--work", str(base / k), *extra] for k in kinds}
        runs: dict[str, dict[str, Any]] = {}
        if args.parallel:
            procs = {k: subprocess.Popen(cmds[k], stdout=subprocess.PIPE) for k in kinds}
            for k, proc in procs.items():
                out, _ = proc.communicate()
                if proc.returncode:
                    raise SystemExit(f"the {k} step failed")
                runs[k] = json.loads(out)
        else:
            for k in kinds:
                runs[k] = json.loads(subprocess.run(cmds[k], stdout=subprocess.PIPE, check=True).stdout)
        shapes = {k: measure(base / k / "project") for k in kinds}
        report(args, runs, shapes)
        keep_all = runs["headwater"]["keep_all_minutes"]
        seconds = upgrade(base / "previous" / "project", 168.0, keep_all)
        after = measure(base / "previous" / "project")
        print(
            f"\none maintenance of this version on lake (a), after {args.commits} commits: {seconds:.2f} s; "
            f"then {after['data_files']} data files, {after['snapshots']} snapshots, "
            f"{after['inlined_rows']} inlined rows, {after['parquet_on_disk']} Parquet files on disk"
        )
        print(machine(f"load average {os.getloadavg()[0]:.1f}"))
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def report(
    args: argparse.Namespace, runs: dict[str, dict[str, Any]], shapes: dict[str, dict[str, Any]]
) -> None:
    a, b = shapes["previous"], shapes["headwater"]
    expected = args.commits * args.rows
    for k, s in shapes.items():
        if s["rows"] != expected:
            raise SystemExit(f"{k}: {s['rows']} rows, expected {expected}")
    print(
        f"{args.commits} commits of {args.rows} rows, maintenance every {args.maintain_every} commits; "
        f"{expected:,} rows in each lake"
    )
    print(f"{'':28} {'a. previous':>14} {'b. headwater':>14} {'b/a':>8}")
    rows = [
        ("data files (catalog)", "data_files", "{:,}"),
        ("Parquet files on disk", "parquet_on_disk", "{:,}"),
        ("delete files", "delete_files", "{:,}"),
        ("snapshots", "snapshots", "{:,}"),
        ("rows inlined in catalog", "inlined_rows", "{:,}"),
        ("catalog size (MB)", "catalog_bytes", "{:.1f}"),
        ("count(*) (ms)", "count_seconds", "{:.1f}"),
        ("count, sum, distinct (ms)", "scan_seconds", "{:.1f}"),
    ]
    for label, key, fmt in rows:
        va, vb = a[key], b[key]
        if key == "catalog_bytes":
            va, vb = va / 1e6, vb / 1e6
        if key.endswith("_seconds"):
            va, vb = va * 1000, vb * 1000
        ratio = f"{vb / va:.2f}" if va else "-"
        print(f"{label:28} {fmt.format(va):>14} {fmt.format(vb):>14} {ratio:>8}")
    for k in ("previous", "headwater"):
        m = runs[k]["maintain_seconds"]
        print(
            f"{k}: {runs[k]['seconds_per_commit'] * 1000:.0f} ms per commit; maintenance "
            f"median {statistics.median(m):.2f} s, max {max(m):.2f} s ({len(m)} runs)"
        )
    print(f"snapshot_keep_all_minutes in (b): {runs['headwater']['keep_all_minutes']:.2f} (600 commits)")


if __name__ == "__main__":
    main()
