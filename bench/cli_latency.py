"""How long the ``headwater`` command takes to answer, from process start to exit, next to a
bare Python process that reads the same lake with DuckDB.

    python bench/cli_latency.py [--repeat 10] [--before DIR] [--keep]

Makes a small project (``headwater init``'s: 3 jobs and views, 5 orders) in a temporary folder
and runs ``headwater run --once`` in it, then times each command, ``--repeat`` times, started
as a user starts it (the installed ``headwater`` script, in the project's folder):

    --help, --version, validate, query "SELECT 1", query over a table, status

and two baselines:

  * ``python -c pass``: the interpreter alone;
  * **duckdb**: ``python -c`` that imports duckdb, loads the DuckLake extension from its
    package, attaches the project's lake READ_ONLY and runs one query
    (``SELECT count(*) FROM lake.bronze.orders``): the least a command that reads the lake can do.

The runs go round-robin (each command once, then again...) so that other work on the machine
falls on every command alike. Each command is run once before the timed runs, with bytecode
writing on, so that Headwater's ``.pyc`` files exist as in an installed copy. Prints the median
and the fastest wall time of each, its median CPU time (user + system, from ``wait4``: less
sensitive to a busy machine than wall time), the ratio to the duckdb baseline, and the
target of issue 12 (0.3 s for ``--help``, ``--version``, ``validate``; 0.5 s for ``query`` and
``status``). ``--before DIR``: also time each command with an earlier version's ``headwater``
package (``DIR/headwater``, e.g. from ``git archive <commit> headwater | tar -x -C DIR``)
first on ``PYTHONPATH``, in the same round-robin, on a project of its own (made by that version).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine

HEADWATER = Path(sys.executable).parent / "headwater"

BASELINE = """
import duckdb
from duckdb_extensions import import_extension
con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
import_extension("ducklake", con=con)
con.execute("LOAD ducklake")
con.execute("ATTACH 'ducklake:.headwater/catalog.ducklake' AS lake (DATA_PATH '.headwater/data/', READ_ONLY, OVERRIDE_DATA_PATH true)")
print(con.execute("SELECT count(*) FROM lake.bronze.orders").fetchall())
"""

# (label, argv, target seconds or None)
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("python -c pass", [sys.executable, "-c", "pass"], None),
    ("duckdb: attach + 1 query", [sys.executable, "-c", BASELINE], None),
    ("headwater --help", [str(HEADWATER), "--help"], 0.3),
    ("headwater --version", [str(HEADWATER), "--version"], 0.3),
    ("headwater validate", [str(HEADWATER), "validate"], 0.3),
    ('headwater query "SELECT 1"', [str(HEADWATER), "query", "SELECT 1"], 0.5),
    (
        "headwater query <a table>",
        [str(HEADWATER), "query", "SELECT count(*) FROM bronze.orders"],
        0.5,
    ),
    ("headwater status", [str(HEADWATER), "status"], 0.5),
]
BASE = "duckdb: attach + 1 query"


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None) -> tuple[float, float]:
    """Wall seconds from start to exit, and CPU seconds (user + system) of the process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read() if proc.stderr else b""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed:\n{err.decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each command (10)")
    parser.add_argument("--before", type=Path, help="a folder holding an earlier version's headwater/")
    parser.add_argument("--keep", action="store_true", help="keep the project folder")
    args = parser.parse_args()
    # (label, argv, target, environment, project folder)
    commands: list[tuple[str, list[str], float | None, dict[str, str], Path]] = []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    before = {**env, "PYTHONPATH": str(args.before.resolve())} if args.before else env
    base = Path(tempfile.mkdtemp(prefix="hw-cli-latency-"))
    # Each version reads a project it made itself: a lake at another state version would have
    # each command bring the lake's tables to its own version, at every run.
    project, earlier = base / "shop", base / "shop-before"
    for label, argv, target in COMMANDS:
        commands.append((label, argv, target, env, project))
        if args.before and label.startswith("headwater"):
            commands.append((f"  before: {label.removeprefix('headwater ')}", argv, None, before, earlier))

    try:
        for folder, run_env in [(project, env)] + [(earlier, before)] * bool(args.before):
            subprocess.run(
                [str(HEADWATER), "init", str(folder)], check=True, capture_output=True, env=run_env
            )
            subprocess.run(
                [str(HEADWATER), "run", "--once"], cwd=folder, check=True, capture_output=True, env=run_env
            )
        print(machine(f"load average {os.getloadavg()[0]:.1f} before"))
        for _, argv, _, run_env, folder in commands:  # warm-up: .pyc files, the page cache
            timed(argv, folder, run_env)
        walls: dict[str, list[float]] = {label: [] for label, *_ in commands}
        cpus: dict[str, list[float]] = {label: [] for label, *_ in commands}
        for _ in range(args.repeat):
            for label, argv, _, run_env, folder in commands:
                wall, cpu = timed(argv, folder, run_env)
                walls[label].append(wall)
                cpus[label].append(cpu)
        print(f"load average {os.getloadavg()[0]:.1f} after; {args.repeat} runs each, round-robin\n")
        base_wall = statistics.median(walls[BASE])
        head = f"{'command':30} {'median':>8} {'fastest':>8} {'CPU':>7} {'x duckdb':>9} {'target':>7}  met"
        print(head)
        print("-" * len(head))
        for label, _, target, _, _ in commands:
            wall = statistics.median(walls[label])
            ratio = wall / base_wall
            goal = f"{target:.1f} s" if target else ""
            met = "" if target is None else ("yes" if wall <= target else "NO")
            print(
                f"{label:30} {wall:>6.3f} s {min(walls[label]):>6.3f} s {statistics.median(cpus[label]):>5.3f} s "
                f"{ratio:>8.2f}x {goal:>7}  {met}"
            )
        print("\nmedian and fastest: wall time, process start to exit; CPU: median user + system time")
    finally:
        if args.keep:
            print(f"kept {project}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
