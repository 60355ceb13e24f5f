"""What the benchmarks share: running a measurement in its own process (for its peak RSS),
a fresh Headwater project, and a line describing the machine."""

from __future__ import annotations

import cProfile
import functools
import importlib
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

Steps = tuple[tuple[str, str, str], ...]  # (label, module, function) of each step to time


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


# -- timing the steps of a run ------------------------------------------------------------------
def instrument(times: dict[str, float], steps: Steps) -> None:
    """Wrap each step's function (``steps``: label, module, function) with a timer adding to
    ``times[label]``. A label indented by spaces is part of the step above it."""
    for label, module_name, attr in steps:
        try:
            owner: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        fn = getattr(owner, name, None) if owner is not None else None
        if fn is None:
            continue
        setattr(owner, name, _timed(fn, label, times))


def _timed(fn: Any, label: str, times: dict[str, float]) -> Any:
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Any:
            it = fn(*args, **kwargs)
            while True:
                started = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    times[label] += time.perf_counter() - started
                yield item

        return generator

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times[label] += time.perf_counter() - started

    return wrapper


def print_steps(
    run: dict[str, Any], timed: Steps, concurrent: frozenset[str] | set[str] = frozenset()
) -> None:
    """Where Headwater's time went; what a step's parts leave over is shown as 'other'. Steps
    in ``concurrent`` ran in another thread, alongside the others: not part of the sum."""
    total, steps = run["seconds"], run["steps"]
    labels = [label for label, _, _ in timed if label in steps]
    print(f"\nwhere Headwater's {total:.2f} s went:")
    rows: list[tuple[str, float]] = []
    parent: str | None = None
    parts = 0.0
    for label in labels:
        if label in concurrent:
            rows.append((label, steps[label]))
            continue
        if not label.startswith(" "):
            if parent is not None and parts:
                rows.append(("  other", steps[parent] - parts))
            parent, parts = label, 0.0
        else:
            parts += steps[label]
        rows.append((label, steps[label]))
    if parent is not None and parts:
        rows.append(("  other", steps[parent] - parts))
    top = sum(steps[label] for label in labels if not label.startswith(" ") and label not in concurrent)
    rows.append(("other (open the lake, state, queries)", total - top))
    for label, seconds in rows:
        print(f"  {label:<42}{seconds:>7.2f} s{100 * seconds / total:>6.0f} %")
