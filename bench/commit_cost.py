"""What one small ingestion commit costs, this version against an earlier one, in the same run.

    python bench/commit_cost.py [--files 60] [--rows 50] [--repeat 3] [--before DIR]

A project with one files connection and one SYNC job (``EVENT_TIME``, so it keeps a watermark)
reads ``--files`` JSON-lines files of ``--rows`` rows, with ``[run] batch_bytes`` as small as a
file so that each file is one commit: its rows, positions, run record, watermark, commit clock
and job status in one DuckLake transaction, as a continuous run commits. Each measurement is
a fresh process that times ``Project.run(once=True)`` (the runner's modules imported before)
and divides by the commits it made; the maintenance at the end of the run is included.
``--before DIR``: also run an earlier version's package (``DIR/headwater``, e.g. from
``git archive <commit> headwater | tar -x -C DIR``) first on ``PYTHONPATH``, alternating with
this version, ``--repeat`` times each; prints each run, the medians and their ratio. Every run
checks that each row was written once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine

PIPELINE = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE TABLE bronze.orders;
CREATE SYNC JOB load_orders CONTENT_TYPE = JSON EVENT_TIME = ts
AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders;
"""


def make(root: Path, files: int, rows: int) -> None:
    rng = random.Random(1)
    (root / "landing").mkdir(parents=True)
    for f in range(files):
        with open(root / "landing" / f"{f:05d}.jsonl", "w") as out:
            for i in range(rows):
                record = {
                    "order_id": f * rows + i,
                    "amount": round(rng.random() * 100, 2),
                    "status": "placed",
                    "ts": f"2026-11-30T{f // 60 % 24:02d}:{f % 60:02d}:00",
                }
                out.write(json.dumps(record) + "\n")
    size = max(p.stat().st_size for p in (root / "landing").glob("*.jsonl"))
    (root / "headwater.toml").write_text(f"[run]\nbatch_bytes = {size}\n")
    (root / "pipeline.sql").write_text(PIPELINE)


def worker(root: Path, files: int, rows: int) -> None:
    import headwater as hw
    import headwater.runner.loop  # (imported before the timing, as a running process has it)

    make(root, files, rows)
    project = hw.Project(root)
    started = time.perf_counter()
    result = project.run(once=True)
    seconds = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"the run failed: {result.failed_jobs}")
    commits = project.query("SELECT count(*) FROM system.runs WHERE job = 'load_orders'").fetchall()[0][0]
    written = project.query("SELECT count(*), count(DISTINCT order_id) FROM bronze.orders").fetchall()[0]
    print(json.dumps({"seconds": seconds, "commits": commits, "rows": list(written)}))


def measure(before: Path | None, files: int, rows: int) -> dict[str, float]:
    env = dict(os.environ)
    if before is not None:
        env["PYTHONPATH"] = str(before) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="hw-bench-commit-") as tmp:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                str(Path(tmp) / "project"),
                "--files",
                str(files),
                "--rows",
                str(rows),
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    if got["rows"] != [files * rows, files * rows]:
        raise SystemExit(f"rows written: {got['rows']}, expected {files * rows} once each")
    return {
        "seconds": got["seconds"],
        "commits": got["commits"],
        "ms": got["seconds"] / got["commits"] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", type=Path, help="an earlier version's package folder (DIR/headwater)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.files, args.rows)
        return
    if args.before is not None and not (args.before / "headwater" / "__init__.py").exists():
        parser.error(f"--before: no headwater package in {args.before}")
    print(machine() + f"; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{args.files} files of {args.rows} rows, one commit each; {args.repeat} runs each")
    runs: dict[str, list[float]] = {"this version": [], "before": []}
    for _ in range(args.repeat):
        for label, where in (("before", args.before), ("this version", None)):
            if label == "before" and where is None:
                continue
            got = measure(where, args.files, args.rows)
            runs[label].append(got["ms"])
            print(
                f"  {label:13s} {got['commits']:4.0f} commits in {got['seconds']:6.2f} s: {got['ms']:6.1f} ms a commit"
            )
    now = statistics.median(runs["this version"])
    print(f"this version: {now:.1f} ms a commit (median)")
    if runs["before"]:
        then = statistics.median(runs["before"])
        print(f"before:       {then:.1f} ms a commit (median); this version / before = {now / then:.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
