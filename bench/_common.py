"""What the benchmarks share: running a measurement in its own process (for its peak RSS),
a fresh Headwater project, and a line describing the machine."""

from __future__ import annotations

import collections
import cProfile
import functools
import importlib
import inspect
import json
import os
import platform
import re
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


def timed_ctas(database: Path, sql: str, table: str) -> dict[str, Any]:
    """Run ``sql`` (a CREATE TABLE ... AS) into a fresh DuckDB file, timed up to and including
    closing the connection (the checkpoint that writes the table); returns its seconds and the
    rows of ``table``."""
    import duckdb

    database.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(database))
    con.execute(sql)
    con.close()
    seconds = time.perf_counter() - started
    with duckdb.connect(str(database), read_only=True) as con:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return {"seconds": seconds, "rows": int(row[0]) if row else 0}


# -- DuckDB's profiler on every statement of a run -----------------------------------------------
class OperatorProfile:
    """Turns DuckDB's profiler on for every connection Headwater's lake opens (patching
    ``Lake``; nothing in Headwater changes) and collects each statement's JSON profile: the
    time of each operator, summed over the statements, names what the run's CPU goes to."""

    def __init__(self, folder: Path) -> None:
        import headwater.lake.engine as engine

        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.operators: dict[tuple[str, str], list[float]] = {}  # (operator, detail) -> [s, calls]
        self.statements: dict[str, list[float]] = {}  # statement -> [latency, cpu, calls]
        self._connections = 0
        original_init, original_cursor = engine.Lake.__init__, engine.Lake.cursor
        profile = self

        def init(lake: Any, *args: Any, **kwargs: Any) -> None:
            original_init(lake, *args, **kwargs)
            lake.con = profile.wrap(lake.con)

        def cursor(lake: Any) -> Any:
            other = original_cursor(lake)
            other.con = profile.wrap(other.con._con if isinstance(other.con, _Profiled) else other.con)
            return other

        engine.Lake.__init__ = init  # type: ignore[method-assign]
        engine.Lake.cursor = cursor  # type: ignore[method-assign]

    def wrap(self, con: Any) -> _Profiled:
        self._connections += 1
        output = self.folder / f"profile-{self._connections}.json"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{output}'")
        return _Profiled(con, self, output)

    def collect(self, output: Path) -> None:
        try:
            tree = json.loads(output.read_text())
        except (OSError, ValueError):
            return
        output.unlink(missing_ok=True)
        sql = " ".join(str(tree.get("query_name", "")).split())
        if not sql or sql.upper().startswith("PRAGMA"):
            return
        key = sql[:90]
        entry = self.statements.setdefault(key, [0.0, 0.0, 0])
        entry[0] += float(tree.get("latency") or 0.0)
        entry[1] += float(tree.get("cpu_time") or 0.0)
        entry[2] += 1
        self._walk(tree)

    def _walk(self, node: dict[str, Any]) -> None:
        name = node.get("operator_name") or node.get("operator_type")
        if name:
            info = node.get("extra_info") or {}
            detail = _detail(info)
            entry = self.operators.setdefault((str(name).strip(), detail), [0.0, 0])
            entry[0] += float(node.get("operator_timing") or 0.0)
            entry[1] += 1
        for child in node.get("children") or []:
            self._walk(child)

    def report(self, top: int = 12) -> dict[str, Any]:
        """The ``top`` operators and statements by time, as JSON-able lists."""
        total = sum(s for s, _ in self.operators.values()) or 1.0
        operators = sorted(self.operators.items(), key=lambda kv: -kv[1][0])[:top]
        statements = sorted(self.statements.items(), key=lambda kv: -kv[1][1])[:top]
        return {
            "operator_seconds": total,
            "operators": [
                {"operator": op, "detail": detail, "seconds": s, "share": s / total, "calls": n}
                for (op, detail), (s, n) in operators
            ],
            "statements": [
                {"sql": sql, "latency": lat, "cpu": cpu, "calls": n} for sql, (lat, cpu, n) in statements
            ],
        }


# Headwater's projections name their outputs: what each computes (sources/decode.py, quality/).
STAGES = (  # the first that matches
    ("__hw_digest", "quality: HASH, MASK, expectations, dedupe key"),
    ("__hw_ok", "typing: exact checks of the values, nested values' leaves"),
    ("__hw_t", "typing: exact checks of the values"),
    ("__hw_y", "typing: the casts"),
    ("__hw_j", "json_extract of nested columns"),
    ("__hw_r; __hw_kind", "json_transform of every line, its shape and kind"),
    ("__hw_raw; __hw_k", "json_valid + json_keys of every line (and of its objects)"),
    ("struct_extract(__hw_r", "the values' texts out of json_transform"),
)


def _detail(info: dict[str, Any]) -> str:
    """What an operator works on, shortened: a projection's expressions, a scan's table, ..."""
    text = _expressions(info)
    stage = next((label for mark, label in STAGES if mark in text), "")
    return f"<{stage}> {text}" if stage else text


def _expressions(info: dict[str, Any]) -> str:
    for field in ("Projections", "Expressions", "Aggregates", "Function", "Table", "Filters", "Conditions"):
        value = info.get(field)
        if value:
            text = "; ".join(value) if isinstance(value, list) else str(value)
            text = " ".join(text.split())
            calls = collections.Counter(re.findall(r"\b([A-Za-z_][A-Za-z_0-9]*)\(", text))
            named = ", ".join(f"{f} x{n}" if n > 1 else f for f, n in calls.most_common(8))
            return (f"[{named}] " if named else "") + text[:300]
    return ""


class _Profiled:
    """A connection whose statements' profiles go to ``OperatorProfile.collect`` once they ran
    (a relation's query runs when its result is fetched)."""

    def __init__(self, con: Any, profile: OperatorProfile, output: Path) -> None:
        self._con, self._profile, self._output = con, profile, output

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._con.execute(*args, **kwargs)
        finally:
            self._profile.collect(self._output)

    def sql(self, *args: Any, **kwargs: Any) -> Any:
        rel = self._con.sql(*args, **kwargs)
        self._profile.collect(self._output)
        return None if rel is None else _ProfiledRelation(rel, self)


class _ProfiledRelation:
    def __init__(self, rel: Any, con: _Profiled) -> None:
        self._rel, self._con = rel, con

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._rel, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            out = attr(*args, **kwargs)
            if type(out).__name__ == "DuckDBPyRelation":
                return _ProfiledRelation(out, self._con)
            self._con._profile.collect(self._con._output)
            return out

        return call


def print_operators(title: str, profile: dict[str, Any]) -> None:
    """The most expensive operators of a run (``OperatorProfile.report``), for the console."""
    total = profile["operator_seconds"]
    print(f"\n{title}: {total:.2f} s in DuckDB operators (summed over threads), the most expensive:")
    for op in profile["operators"]:
        print(
            f"  {op['seconds']:7.2f} s {100 * op['share']:4.0f} % {op['calls']:>5}x  {op['operator']}: {op['detail'][:220]}"
        )
    print("  statements by CPU (latency s, cpu s, calls, SQL):")
    for st in profile["statements"][:6]:
        print(f"  {st['latency']:7.2f} {st['cpu']:7.2f} {st['calls']:>4}  {st['sql']}")
