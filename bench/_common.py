"""What the benchmarks share: running a measurement in its own process (for its peak RSS),
a fresh Headwater project, and a line describing the machine."""

from __future__ import annotations

import cProfile
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def run_child(script: str, kind: str, work: Path, extra: list[str]) -> tuple[dict[str, Any], int]:
    """Run ``script --worker kind --work work [extra]`` in a child process; returns the JSON it
    prints and its peak RSS in bytes (from ``wait4``, so the parent's size does not count)."""
    cmd = [sys.executable, script, "--worker", kind, "--work", str(work), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"the {kind} step failed (exit {code})")
    return json.loads(out), usage.ru_maxrss * 1024  # Linux reports KiB


def new_project(work: Path, sql: str) -> Path:
    """An empty project folder ``work/project`` holding ``pipeline.sql``."""
    project_dir = work / "project"
    shutil.rmtree(project_dir, ignore_errors=True)
    project_dir.mkdir()
    (project_dir / "pipeline.sql").write_text(sql)
    return project_dir


def run_once(project_dir: Path, profile: bool) -> tuple[float, int, cProfile.Profile | None]:
    """``Project(project_dir).run(once=True)``, timed: its seconds, how many commits it made,
    and a cProfile of it when ``profile``. Exits if a job failed."""
    from headwater.api import Project
    from headwater.observe.events import BatchCommitted, CaptureConsole

    console = CaptureConsole()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    started = time.perf_counter()
    result = Project(project_dir, console=console).run(once=True)
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
    if not result.ok:
        raise SystemExit(f"the ingestion job failed: {result.failed_jobs}")
    return seconds, sum(isinstance(e, BatchCommitted) for e in console.events), profiler


def machine(*extra: str) -> str:
    """Cores, memory, system, Python and DuckDB versions (and ``extra``), for the report."""
    import duckdb

    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = 0.0
    parts = [
        f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.machine()}",
        f"Python {platform.python_version()}",
        f"DuckDB {duckdb.__version__}",
        *extra,
    ]
    return "machine: " + ", ".join(parts)
