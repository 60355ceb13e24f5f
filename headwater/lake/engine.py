"""Opening the lake: one DuckDB connection with the DuckLake catalog attached as ``lake``.

This package is the only code that talks to DuckDB. Extensions come from their PyPI
packages; nothing is downloaded at run time.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.resources
import importlib.util
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from headwater.lake.errors import LakeBusy, LakeError, QueryError
from headwater.lake.names import INTERNAL_SCHEMA as INTERNAL_SCHEMA  # (still importable from here)
from headwater.lake.names import LAKE, literal
from headwater.lake.names import SYSTEM_SCHEMA as SYSTEM_SCHEMA


def _load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load an extension from the file its PyPI package ships, for this DuckDB version.

    The connection is opened with ``allow_unsigned_extensions`` so that DuckDB skips checking
    the file's signature (a SHA-256 over ~40 MB, ~0.1 s on every command); the file is as
    trusted as DuckDB's own library next to it in site-packages. ``_verify_extensions`` turns
    the check back on once Headwater's extensions are loaded."""
    try:
        package = importlib.import_module(f"duckdb_extension_{name}")
        version = con.execute("PRAGMA version").fetchone()[0]  # type: ignore[index]
        path = Path(str(importlib.resources.files(package))) / "extensions" / version
        con.execute(f"LOAD '{_sql_str(str(path / f'{name}.duckdb_extension'))}'")
    except (ImportError, duckdb.Error) as e:
        raise LakeError(f"cannot load the DuckDB extension {name!r} from its package: {e}") from e


def _verify_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """From now on, DuckDB checks the signature of any extension loaded (its default)."""
    con.execute("SET allow_unsigned_extensions = false")


def _catalog_uri(catalog: str) -> tuple[str, bool]:
    """Map ``headwater.toml``'s catalog setting to a DuckLake ATTACH target."""
    if catalog.startswith(("postgresql://", "postgres://")):
        return f"ducklake:postgres:{catalog}", True
    if catalog.startswith("ducklake:"):
        return catalog, catalog.startswith("ducklake:postgres:")
    return f"ducklake:{catalog}", False


def _warm_pandas() -> None:
    """DuckDB imports pandas (when installed) on the first query with parameters or Arrow
    data, ~0.2 s: start that import now, in the background, while the lake opens."""
    if "pandas" not in sys.modules and importlib.util.find_spec("pandas") is not None:
        threading.Thread(target=importlib.import_module, args=("pandas",), daemon=True).start()


class Lake:
    """A connection to the project's lake. Use as a context manager, or call ``close``."""

    def __init__(
        self,
        catalog: str,
        data_path: str,
        *,
        busy_timeout: float = 30.0,
        threads: int | None = None,
        follow_data_path: bool = False,
        read_only: bool = False,
        warm_pandas: bool = True,
    ) -> None:
        """``follow_data_path``: the data lives where the project is (the default, inside
        ``.headwater/``), so a project folder that was moved or copied keeps working.
        ``read_only``: the catalog is attached READ_ONLY (for commands that only read; a
        DuckDB-file catalog lets several such readers in at once). ``warm_pandas``: start
        importing pandas in the background (``_warm_pandas``); a command that only reads
        sends no parameters nor Arrow data, never needs it, and does not start it."""
        self.catalog = catalog
        self.data_path = data_path
        self.follow_data_path = follow_data_path
        self.read_only = read_only
        if "://" not in data_path:
            Path(data_path).mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("HOME", str(Path(data_path).resolve().parent))
        config: dict[str, Any] = {
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
            "allow_unsigned_extensions": "true",  # (for our own files; see _load_extension)
        }
        if threads:
            config["threads"] = threads
        if warm_pandas:
            _warm_pandas()
        self.con = duckdb.connect(config=config)
        try:
            _load_extension(self.con, "ducklake")
            target, needs_pg = _catalog_uri(catalog)
            if needs_pg:
                _load_extension(self.con, "postgres_scanner")
            _verify_extensions(self.con)
            self._target, self.busy_timeout = target, busy_timeout
            self._depth = 0  # open transaction() blocks
            self._on_close: list[Callable[[], object]] = []
            self._attach(target, busy_timeout)
            self.con.execute(f"USE {LAKE}")
        except BaseException:
            self.con.close()
            raise

    def _attach(self, target: str, busy_timeout: float) -> None:
        deadline = time.monotonic() + busy_timeout
        delay = 0.05
        while True:
            try:
                override = ", OVERRIDE_DATA_PATH true" if self.follow_data_path else ""
                override += ", READ_ONLY" if self.read_only else ""
                self.con.execute(
                    f"ATTACH '{_sql_str(target)}' AS {LAKE} (DATA_PATH '{_sql_str(self.data_path)}'{override})"
                )
                return
            except duckdb.Error as e:
                if not isinstance(e, duckdb.IOException) or "lock" not in str(e).lower():
                    raise LakeError(
                        f"cannot open the lake catalog {self.catalog}: {str(e).strip()}",
                        hint="check [lake] catalog and data_path in headwater.toml",
                    ) from None
                if time.monotonic() > deadline:
                    if "lock" in str(e).lower():
                        raise LakeBusy(
                            f"the lake catalog {self.catalog} is held by another process",
                            hint="wait for the running `headwater run` to finish a pass, or stop it",
                        ) from None
                    raise LakeError(f"cannot open the lake catalog {self.catalog}: {e}") from e
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    # -- plain execution -------------------------------------------------------------------
    def execute(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, params or [])

    def fetchall(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def fetchone(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
        return self.con.execute(sql, params or []).fetchone()

    def user_query(self, sql: str) -> duckdb.DuckDBPyRelation | None:
        """Run SQL that a user wrote; DuckDB's errors become ``QueryError``."""
        try:
            return self.con.sql(sql)
        except duckdb.Error as e:
            raise QueryError(_clean_duckdb_error(e)) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Lake]:
        """One DuckLake transaction: everything inside commits together or not at all. Inside
        another one it is part of that one (a replay re-runs windows in one transaction)."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield self
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0
        self.con.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        """Whether a ``transaction()`` block is open (what runs now commits with it)."""
        return self._depth > 0

    def snapshot_id(self) -> int:
        row = self.fetchone(f"SELECT max(snapshot_id) FROM {LAKE}.snapshots()")
        return int(row[0]) if row and row[0] is not None else 0

    # -- catalog inspection ------------------------------------------------------------------
    # (duckdb_columns() answers in a few ms; duckdb_tables() takes ~60 ms on a DuckLake catalog,
    # as it estimates every table's size. Literals, not parameters: ``plan`` and ``validate``
    # look tables up, and a query with parameters makes DuckDB import pandas, ~0.2 s.)
    def table_exists(self, schema: str, name: str) -> bool:
        row = self.fetchone(
            f"SELECT count(*) FROM duckdb_columns() WHERE database_name = '{LAKE}' "
            f"AND schema_name = {literal(schema)} AND table_name = {literal(name)}"
        )
        return bool(row and row[0])

    def columns(self, schema: str, name: str) -> dict[str, str]:
        rows = self.fetchall(
            "SELECT column_name, data_type FROM duckdb_columns() "
            f"WHERE database_name = '{LAKE}' AND schema_name = {literal(schema)} "
            f"AND table_name = {literal(name)} ORDER BY column_index"
        )
        return {r[0]: r[1] for r in rows}

    def tables(self) -> list[tuple[str, str]]:
        rows = self.fetchall(
            f"SELECT DISTINCT schema_name, table_name FROM duckdb_columns() WHERE database_name = '{LAKE}' "
            "ORDER BY schema_name, table_name"
        )
        return [(r[0], r[1]) for r in rows]

    def release(self) -> None:
        """Let another process open the lake (a file catalog has one user at a time); the
        connection, its settings and registered data stay. ``reacquire`` attaches it again."""
        self.con.execute("USE memory")
        self.con.execute(f"DETACH {LAKE}")

    def reacquire(self) -> None:
        self._attach(self._target, self.busy_timeout)
        self.con.execute(f"USE {LAKE}")

    def cursor(self) -> Lake:
        """Another connection to the same open lake (its own transactions), for a thread."""
        other = Lake.__new__(Lake)
        other.catalog, other.data_path, other.follow_data_path, other.read_only = (
            self.catalog,
            self.data_path,
            self.follow_data_path,
            self.read_only,
        )
        other._target, other.busy_timeout, other._on_close = self._target, self.busy_timeout, []
        other._depth = 0
        other.con = self.con.cursor()
        other.con.execute(f"USE {LAKE}")
        return other

    def on_close(self, callback: Callable[[], object]) -> None:
        self._on_close.append(callback)

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()
        for callback in self._on_close:
            with contextlib.suppress(Exception):
                callback()
        self._on_close = []

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sql_str(value: str) -> str:
    return value.replace("'", "''")


def quote(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    return f"{LAKE}.{quote(schema)}.{quote(name)}"


def _clean_duckdb_error(e: duckdb.Error) -> str:
    text = clean_error(str(e))
    # DuckDB prefixes "Binder Error: " etc.; keep it, it helps, but drop the internal LINE noise.
    return text.replace(f"{LAKE}.", "")


INTERNAL_COLUMN_PREFIX = "__hw_"
_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


def clean_error(text: str) -> str:
    """DuckDB's message without what points at its internal catalogs or at Headwater's own
    columns (``__hw_*``) and SQL: a user never wrote those."""
    lines: list[str] = []
    skip_caret = False
    for line in text.strip().splitlines():
        if "Did you mean" in line and ("pg_" in line or "information_schema" in line or "duckdb_" in line):
            continue
        if line.startswith("LINE ") and INTERNAL_COLUMN_PREFIX in line:
            skip_caret = True  # an excerpt of SQL that Headwater generated, and its caret
            continue
        if skip_caret and line.strip() == "^":
            skip_caret = False
            continue
        if line.startswith("Candidate bindings:"):
            names = [n for n in _QUOTED.findall(line) if INTERNAL_COLUMN_PREFIX not in n]
            if not names:
                continue
            line = "Candidate bindings: " + ", ".join(f'"{n}"' for n in names)
        lines.append(line)
    return "\n".join(lines).rstrip().replace(f"{LAKE}.", "")
