"""What ``status`` shows of a project's files: its jobs and views, kept from the last time the
files were checked, so that ``status`` of unchanged files parses nothing (no sqlglot: about
0.1 s of its start, docs/benchmarks.md "CLI latency").

The list is kept in the project's state folder with a key: a hash of every ``.sql`` file's
name and text, ``headwater.toml``'s text, and what could parse them differently (Headwater's
version, the size and time of each of its own modules and of sqlglot's). A file that changed,
appeared or went away, or another Headwater or sqlglot, gives another key: the files are
checked again, with the errors they give, and the list is written anew. Only a project whose
files passed that check has a list.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.lake.names import literal

if TYPE_CHECKING:
    from headwater.catalog import Catalog

LISTING_FILE = "status-listing.json"


@dataclass(frozen=True)
class Listed:
    """A job or view as ``status`` shows it."""

    name: str  # (a view's without the ``main.`` schema)
    kind: str  # ingest, transform, materialized view
    target: str
    streamed: bool  # an ingestion job from a stream (Kafka, a database's changes): has partitions


_FIELDS = {"name", "kind", "target", "streamed"}


def listing(catalog: Catalog) -> list[Listed]:
    """The jobs, then the views, of a checked project."""
    from headwater.dialect.nodes import CreateIngestJob

    out: list[Listed] = []
    for entry in [*catalog.jobs, *catalog.views]:
        stmt = entry.statement
        streamed = (
            isinstance(stmt, CreateIngestJob) and catalog.connections[stmt.source.connection].kind != "FILES"
        )
        name = entry.name if entry.kind != "materialized_view" else entry.name.removeprefix("main.")
        kind = entry.kind.replace("_job", "").replace("_", " ")
        out.append(Listed(name, kind, str(entry.writes), streamed))
    return out


def files_key(project: Path, sql_files: list[Path]) -> str:
    """The key of the project's files as they are now (see the module's docstring)."""
    digest = hashlib.sha256()
    _code_stamp(digest)
    for file in [project / "headwater.toml", *sql_files]:
        try:
            text = file.read_bytes()
        except FileNotFoundError:
            text = b"(none)"
        digest.update(f"\0{file.relative_to(project)}\0{len(text)}\0".encode())
        digest.update(text)
    return digest.hexdigest()


def _code_stamp(digest: Any) -> None:
    from headwater import __version__

    digest.update(f"headwater {__version__}\0".encode())
    sqlglot = importlib.util.find_spec("sqlglot")
    roots = [Path(__file__).parent]
    if sqlglot is not None and sqlglot.submodule_search_locations:
        roots += [Path(p) for p in sqlglot.submodule_search_locations]
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    stat = os.stat(os.path.join(folder, name))
                    digest.update(f"{folder}/{name}\0{stat.st_mtime_ns}\0{stat.st_size}\0".encode())


def load(state_dir: Path, key: str) -> list[Listed] | None:
    """The list kept for ``key``, or None (none kept, another key, unreadable)."""
    try:
        kept = json.loads((state_dir / LISTING_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("key") != key or not isinstance(kept.get("entries"), list):
        return None
    out = []
    for entry in kept["entries"]:
        if not isinstance(entry, dict) or set(entry) != _FIELDS:
            return None
        listed = Listed(**entry)
        if not all(isinstance(getattr(listed, f), str) for f in ("name", "kind", "target")):
            return None
        if not isinstance(listed.streamed, bool):
            return None
        out.append(listed)
    return out


def save(state_dir: Path, key: str, listed: list[Listed]) -> None:
    """Keep ``listed`` for ``key`` (replacing the file whole); nothing if it cannot be written."""
    if not state_dir.is_dir():
        return
    path = state_dir / LISTING_FILE
    temporary = path.with_name(f".{LISTING_FILE}.{os.getpid()}")
    with contextlib.suppress(OSError):
        temporary.write_text(json.dumps({"key": key, "entries": [asdict(e) for e in listed]}))
        os.replace(temporary, path)
    with contextlib.suppress(OSError):
        temporary.unlink(missing_ok=True)


def status_queries(listed: list[Listed]) -> list[tuple[str, str]]:
    """``status``'s queries: each as Headwater SQL (for a running ``run`` to answer) and as
    the DuckDB SQL that the dialect makes of it (to run without parsing it; a test checks
    that they match)."""
    streams = ", ".join(literal(e.name) for e in listed if e.streamed)
    return [
        (
            "SELECT name, status, last_run, lag_seconds, error FROM system.jobs",
            "SELECT name, status, last_run, lag_seconds, error FROM lake.system.jobs",
        ),
        # (a run whose output a later one replaced is not counted: its rows are not there)
        (
            "SELECT job, count(*), sum(rows_read), sum(rows_written), sum(rows_late) FROM system.runs "
            "WHERE status IS DISTINCT FROM 'replaced' GROUP BY job",
            "SELECT job, COUNT(*), SUM(rows_read), SUM(rows_written), SUM(rows_late) FROM lake.system.runs "
            "WHERE status IS DISTINCT FROM 'replaced' GROUP BY job",
        ),
        (
            "SELECT job, watermark FROM system.watermarks",
            "SELECT job, watermark FROM lake.system.watermarks",
        ),
        (
            "SELECT job FROM headwater.job_state WHERE paused",
            "SELECT job FROM headwater.job_state WHERE paused",
        ),
        (
            "SELECT job FROM headwater.job_state WHERE failed",
            "SELECT job FROM headwater.job_state WHERE failed",
        ),
        (
            'SELECT job, "partition", position, committed_at, end_position, behind, seconds_behind, '
            f"connection FROM system.offsets WHERE list_contains(CAST([{streams}] AS VARCHAR[]), job) "
            'AND NOT starts_with("partition", \'__\') ORDER BY job, "partition"',
            'SELECT job, "partition", position, committed_at, end_position, behind, seconds_behind, '
            f"connection FROM lake.system.offsets WHERE ARRAY_CONTAINS(CAST([{streams}] AS TEXT[]), job) "
            'AND NOT STARTS_WITH("partition", \'__\') ORDER BY job, "partition"',
        ),
    ]
