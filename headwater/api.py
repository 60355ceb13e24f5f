"""``Project``: the one core API. The CLI, the Python SDK and the web UI are shells over it."""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from headwater.config import Settings, load_settings, setting_line, unwritable
from headwater.errors import HeadwaterError, UserError
from headwater.lake import LAKE, SYSTEM_SCHEMA, LakeBusy, LakeError, QueryError
from headwater.lake.latest import JOBS
from headwater.lake.names import literal
from headwater.lake.rows import Row, arrow_rows
from headwater.observe.events import Console, NullConsole
from headwater.runner.lease import BORROW_TIMEOUT_S, ask_query, borrow, live_status

# Nothing heavy is imported here: the SQL dialect and the catalog (sqlglot), the lake
# (duckdb), pyarrow and the runner are imported by the methods that use them, so that the
# CLI's commands start fast (cli/app.py; tests/unit/cli/test_lazy_imports.py): ``status`` of
# a project whose files did not change since they were last checked needs no sqlglot.
if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.catalog import Catalog
    from headwater.dialect import ParseError
    from headwater.dialect.nodes import AlterJob, AnyStatement, Query
    from headwater.lake import Lake
    from headwater.listing import Listed
    from headwater.plan import Plan
    from headwater.runner.backfill import BackfillResult
    from headwater.runner.loop import RunResult
    from headwater.runner.replay import ReplayResult

STATE_DIR = ".headwater"
T = TypeVar("T")


@dataclass
class Result:
    """The answer to a query: convert it the way you like."""

    table: pa.Table

    def arrow(self) -> pa.Table:
        return self.table

    def df(self) -> Any:
        return self.table.to_pandas()

    def pl(self) -> Any:
        import polars as pl

        return pl.from_arrow(self.table)

    def fetchall(self) -> list[tuple[Any, ...]]:
        columns = [c.to_pylist() for c in self.table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    def rows(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()

    @property
    def columns(self) -> list[str]:
        return self.table.column_names


class Project:
    """A folder of ``*.sql`` files (read recursively) and an optional ``headwater.toml``."""

    def __init__(self, path: str | Path = ".", *, console: Console | None = None) -> None:
        self.path = Path(path).resolve()
        if not self.path.is_dir():
            raise UserError(f"project folder {path} does not exist", hint="create it with `headwater init`")
        self.console: Console = console or NullConsole()
        self.settings: Settings = load_settings(self.path)
        self._cleanup: weakref.finalize[Any, Any] | None = None
        self._validated: tuple[tuple[tuple[str, int, int], ...], Catalog] | None = None

    @classmethod
    def from_sql(cls, sql: str, path: str | Path | None = None, *, console: Console | None = None) -> Project:
        """A project made of one SQL text, in ``path`` (default: a new temporary folder, with
        its lake, deleted by ``close()``, at the end of a ``with`` block, when the project is
        garbage-collected, or at exit)."""
        folder = Path(path) if path else Path(tempfile.mkdtemp(prefix="headwater-"))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "project.sql").write_text(sql)
        project = cls(folder, console=console)
        if path is None:
            project._cleanup = weakref.finalize(project, shutil.rmtree, folder, ignore_errors=True)
        return project

    def close(self) -> None:
        """Delete the temporary folder of a ``from_sql`` project; nothing for other projects."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- locations ---------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.path / STATE_DIR

    def _local(self, value: str) -> str:
        """A relative path in headwater.toml is relative to the project, not the caller."""
        if "://" in value or value.startswith(("ducklake:", "postgres")) or Path(value).is_absolute():
            return value
        return str(self.path / value)

    def _catalog_target(self) -> str:
        return self._local(self.settings.lake.catalog or str(self.state_dir / "catalog.ducklake"))

    def _data_path(self) -> str:
        data = self._local(self.settings.lake.data_path or str(self.state_dir / "data"))
        return data if data.endswith("/") else data + "/"

    def _lake(
        self, busy_timeout: float = BORROW_TIMEOUT_S, *, read_only: bool = False, reading: bool = False
    ) -> Lake:
        """The lake, opened by this process (a run's own: it does not borrow)."""
        from headwater.lake import Lake

        self.state_dir.mkdir(parents=True, exist_ok=True)
        return Lake(
            self._catalog_target(),
            self._data_path(),
            follow_data_path=not self.settings.lake.data_path,
            busy_timeout=busy_timeout,
            read_only=read_only,
            warm_pandas=not reading,
        )

    def open_lake(self, *, read_only: bool = False, reading: bool = False) -> Lake:
        """The project's lake; borrowed from a continuous ``run`` of the project when one holds
        it (``runner.lease``), given back when closed. ``read_only``: attached READ_ONLY;
        ``reading``: for a few queries without parameters (``Lake``'s ``warm_pandas`` off)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + BORROW_TIMEOUT_S
        while True:
            lease = borrow(self.state_dir)
            try:
                lake = self._lake(
                    busy_timeout=1.0 if lease is None else BORROW_TIMEOUT_S,
                    read_only=read_only,
                    reading=reading,
                )
            except LakeBusy:
                if lease is not None:
                    lease.close()
                if time.monotonic() > deadline:
                    raise
                continue  # (a run that was starting may lend it now)
            except BaseException:
                if lease is not None:
                    lease.close()
                raise
            if lease is not None:
                lake.on_close(lease.close)
            return lake

    @contextlib.contextmanager
    def _reading(self, *, read_only: bool = True) -> Iterator[Lake]:
        """The lake for what only reads (``status``, ``plan``, ``query``'s reads, quarantine
        listings). When its system tables are current (one query) nothing is written: a local
        catalog is attached READ_ONLY (``read_only=False``: for ``query``, whose reading
        statements run in a transaction that is rolled back, side effects and all). Else (a
        new lake, one an older version wrote) it is opened for writing and made current."""
        from headwater.lake.system_tables import system_tables_current

        if self._lake_exists():
            try:
                lake = self.open_lake(read_only=read_only and self._local_catalog(), reading=True)
            except LakeError:
                pass  # (e.g. a catalog that DuckLake must upgrade first: the write open below does)
            else:
                if system_tables_current(lake):
                    with lake:
                        yield lake
                    return
                lake.close()
        with self._writing() as lake:
            yield lake

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Lake]:
        """The lake, opened for writing, with its system tables made current."""
        from headwater.lake.system_tables import ensure_system_tables

        with self.open_lake() as lake:
            ensure_system_tables(lake)
            yield lake

    # -- the stages ------------------------------------------------------------------------
    def sql_files(self) -> list[Path]:
        return sorted(
            p
            for p in self.path.rglob("*.sql")
            if not any(part.startswith(".") for part in p.relative_to(self.path).parts)
        )

    def statements(self) -> list[AnyStatement]:
        from headwater.dialect import parse

        out: list[AnyStatement] = []
        for file in self.sql_files():
            try:
                text = file.read_text()
            except UnicodeDecodeError as e:
                raise UserError(f"{file}: not UTF-8 text ({e.reason} at byte {e.start})") from None
            out.extend(parse(text, file=str(file.relative_to(self.path))))
        return out

    def validate(self, *, lake: Lake | None = None) -> Catalog:
        """Parse and check every file, the settings, and the columns jobs name against the
        tables that have columns (declared, or in the lake when it exists: ``lake``, else
        opened if it is there); raises a UserError naming file:line:col."""
        from headwater.catalog.columns import check_job_columns, names_columns

        catalog = self.validate_files()
        if lake is not None:
            from headwater.lake.tables import lake_columns

            check_job_columns(catalog, lake_columns(lake))
        elif self._lake_exists() and names_columns(catalog):
            from headwater.lake import Lake
            from headwater.lake.tables import lake_columns

            try:
                with Lake(
                    self._catalog_target(),
                    self._data_path(),
                    busy_timeout=2.0,
                    follow_data_path=not self.settings.lake.data_path,
                    warm_pandas=False,
                ) as opened:
                    check_job_columns(catalog, lake_columns(opened))
            except LakeBusy:
                pass  # a `run` holds it: it checks the columns itself
        return catalog

    def validate_files(self) -> Catalog:
        """What ``validate`` checks without opening the lake (the columns of declared tables).
        Checked again only when a file changed (the console asks every few seconds)."""
        files = [self.path / "headwater.toml", *self.sql_files()]
        key = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.exists())
        if self._validated is not None and self._validated[0] == key:
            self._check_data_path()
            return self._validated[1]
        catalog = self._validate_files()
        self._validated = (key, catalog)
        return catalog

    def _validate_files(self) -> Catalog:
        from headwater.catalog import build_catalog
        from headwater.catalog.columns import check_job_columns
        from headwater.plan.plan import run_order

        statements = self.statements()
        for stmt in statements:
            _reject_unknown(stmt)
        catalog = build_catalog(statements)
        run_order(catalog)
        check_job_columns(catalog, None)
        self._check_data_path()
        return catalog

    def _local_catalog(self) -> bool:
        """The catalog is a DuckDB file (the default), not PostgreSQL or another DuckLake URI."""
        target = self._catalog_target()
        return not ("://" in target or target.startswith(("ducklake:", "postgres")))

    def _lake_exists(self) -> bool:
        return not self._local_catalog() or Path(self._catalog_target()).exists()

    def _check_data_path(self) -> None:
        data = self._data_path()
        if "://" in data:
            return
        problem = unwritable(Path(data))
        if problem:
            toml = self.path / "headwater.toml"
            line = setting_line(toml.read_text(), ["lake", "data_path"]) if toml.exists() else 1
            raise UserError(
                f"{toml}:{line}: [lake] data_path: cannot write the lake's files there: {problem}",
                hint="point data_path at a folder Headwater may create and write",
            )

    def plan(self) -> Plan:
        from headwater.catalog.columns import check_job_columns
        from headwater.lake.tables import lake_columns
        from headwater.plan import make_plan
        from headwater.runner import control
        from headwater.runner.deploy import load_deployed
        from headwater.runner.views import describe_refresh

        catalog = self.validate_files()
        with self._reading() as lake:
            check_job_columns(catalog, lake_columns(lake))
            refresh = {str(v.writes): describe_refresh(lake, v) for v in catalog.views}
            return control.annotate(lake, catalog, make_plan(catalog, load_deployed(lake), refresh))

    def run(
        self, *, once: bool = False, max_passes: int | None = None, allow_drop: bool = False
    ) -> RunResult:
        """Deploy the plan, then run. A plan that drops a table (its rows) or a job (its
        positions) is refused, before anything changes, unless ``allow_drop``."""
        from headwater.runner.loop import Runner

        catalog = self.validate_files()  # (each job checks its columns as it starts)
        runner = Runner(catalog, self.path, self.settings, self._lake, self.console, allow_drop=allow_drop)
        return runner.run(once=once, state_dir=self.state_dir, max_passes=max_passes)

    # -- reading -----------------------------------------------------------------------------
    def query(self, sql: str, *, allow_writes: bool = False) -> Result:
        """Run SQL over the lake and system tables ($columns allowed), and PAUSE/RESUME JOB,
        ALTER JOB, DROP (``runner.control``). Read-only unless ``allow_writes``; system and
        internal tables never take writes. Every statement is checked before any runs."""
        from headwater.runner import interactive

        def run(lake: Lake, stmt: Query, writes: bool) -> Result:
            return Result(interactive.run_query(lake, stmt, writes=writes))

        return self._query(sql, allow_writes, Result, run, lambda r: r)

    def _query_rows(self, sql: str, *, allow_writes: bool = False) -> tuple[list[str], list[Row]]:
        """``query``'s answer as column names and rows (the same values as ``Result.fetchall``),
        without importing pyarrow for the common column types: ``headwater query`` prints
        them (``headwater.lake.rows``)."""
        from headwater.runner import interactive

        def run(lake: Lake, stmt: Query, writes: bool) -> tuple[list[str], list[Row]]:
            return interactive.run_query_rows(lake, stmt, writes=writes)

        return self._query(sql, allow_writes, arrow_rows, run, lambda r: arrow_rows(r.table))

    def _query(
        self,
        sql: str,
        allow_writes: bool,
        served: Callable[[pa.Table], T],
        run: Callable[[Lake, Query, bool], T],
        other: Callable[[Result], T],
    ) -> T:
        """``query``: ``served`` makes the answer of a running ``run``, ``run`` that of a
        query statement, ``other`` that of another statement."""
        from headwater.dialect import parse
        from headwater.dialect.nodes import Query

        statements = parse(sql)
        if not statements:
            raise UserError("nothing to run: the query is empty")
        writes = [self._check(stmt, allow_writes) for stmt in statements]
        if all(isinstance(s, Query) for s in statements) and not any(writes):
            answer = ask_query(self.state_dir, sql)  # a running `run` answers reads itself
            if answer is not None:
                return served(answer)
        result: T | None = None
        reads = all(isinstance(s, Query) for s in statements) and not any(writes)
        try:
            with self._reading(read_only=False) if reads else self._writing() as lake:
                for stmt, write in zip(statements, writes, strict=True):
                    if isinstance(stmt, Query):
                        result = run(lake, stmt, write)
                    else:
                        result = other(self._control(lake, stmt))
        except QueryError as e:
            raise self._not_written_yet(e, sql) from None
        assert result is not None
        return result

    def _not_written_yet(self, e: QueryError, sql: str) -> QueryError:
        """A query of a table that a job or view of the project writes but has not created
        yet (a job's target exists from its first rows): the error says which and why.
        (DuckDB's message names the table with its schema only when the schema is missing
        too: otherwise the query's text tells which schema it meant.)"""
        found = re.search(r'Table with name "?([^"\s!]+)"? does not exist', e.message)
        if e.hint or not found:
            return e
        name = found.group(1).lower()
        try:
            catalog = self.validate_files()
        except HeadwaterError:
            return e
        text = sql.lower().replace('"', "")
        for entry in catalog.of_kind("ingest_job", "transform_job", "materialized_view"):
            table = entry.writes
            if table is None:
                continue
            full = str(table).lower()
            if name != full and not (
                name == table.name.lower()
                and (table.schema == "main" or re.search(rf"\b{re.escape(full)}\b", text))
            ):
                continue
            if entry.kind == "materialized_view":
                hint = f"materialized view {table} is computed by `headwater run` once its inputs have rows"
            else:
                hint = f"{table} is created by job {entry.name} with the first rows it writes"
            return QueryError(e.message, hint=f"{hint}; `headwater status` shows what it waits for")
        return e

    def _check(self, stmt: AnyStatement, allow_writes: bool) -> bool:
        """Whether ``stmt`` writes; a UserError for what ``query`` must not run."""
        from headwater.dialect.nodes import AlterJob, Drop, PauseJob, Query, ResumeJob
        from headwater.runner import interactive

        _reject_unknown(stmt)
        if isinstance(stmt, Drop):
            from headwater.runner import control  # (the deploy and state code: for DROP only)

            control.check_drop(stmt, self.validate(), allow_writes=allow_writes)
            return True
        if isinstance(stmt, PauseJob | ResumeJob | AlterJob):
            return False  # the deployed job's own state and options (SPEC §2, runner.control)
        if not isinstance(stmt, Query):
            raise UserError(
                f"{stmt.pos}: {stmt.keywords} statements belong in the project's .sql files",
                hint="edit the files, then `headwater plan` and `headwater run`",
            )
        return interactive.check_query(stmt, allow_writes=allow_writes)

    def _control(self, lake: Lake, stmt: AnyStatement) -> Result:
        """PAUSE/RESUME JOB, ALTER JOB, DROP typed at ``query``."""
        import pyarrow as pa

        from headwater.dialect.nodes import AlterJob, Drop, PauseJob, ResumeJob, SetOption
        from headwater.runner import control

        if isinstance(stmt, PauseJob | ResumeJob):
            self._set_paused(lake, stmt.name, isinstance(stmt, PauseJob))
            word = "paused" if isinstance(stmt, PauseJob) else "resumed"
            return Result(pa.table({"job": [stmt.name], "status": [word]}))
        if isinstance(stmt, AlterJob) and isinstance(stmt.action, SetOption):
            option, value = control.alter_set(lake, self.validate_files(), stmt)
            return Result(pa.table({"job": [stmt.name], "option": [option], "value": [value]}))
        if isinstance(stmt, AlterJob):
            return self._alter_expectations(lake, stmt)
        if isinstance(stmt, Drop):
            control.drop(lake, stmt)
            word = stmt.kind.lower().replace(" ", "_")
            return Result(pa.table({word: [stmt.name], "status": ["dropped"]}))
        raise AssertionError(f"not a control statement: {stmt.keywords}")

    def _alter_expectations(self, lake: Lake, stmt: AlterJob) -> Result:
        """ALTER JOB ... ADD/DROP EXPECTATION on the deployed job; counts already recorded stay."""
        import pyarrow as pa

        from headwater.dialect.nodes import AddExpectation, DropExpectation
        from headwater.state import store

        entry = self.validate_files().job(stmt.name)
        if entry is None:
            raise UserError(f"{stmt.pos}: no job named {stmt.name!r}")
        if isinstance(stmt.action, AddExpectation):
            action, name = "add_expectation", stmt.action.expectation.name
        else:
            assert isinstance(stmt.action, DropExpectation)
            action, name = "drop_expectation", stmt.action.name
            from headwater.runner.context import effective_expectations

            current = effective_expectations(
                lake, stmt.name, list(getattr(entry.statement, "expectations", []))
            )
            if name not in {e.name for e in current}:
                raise UserError(f"{stmt.pos}: job {stmt.name} has no expectation {name!r}")
        with lake.transaction():
            lake.execute(
                f"INSERT INTO {LAKE}.headwater.job_overrides VALUES (?, ?, ?, ?, ?)",
                [stmt.name, action, name, stmt.to_sql(), store.utcnow()],
            )
        return Result(pa.table({"job": [stmt.name], "expectation": [name], "change": [action.split("_")[0]]}))

    # -- quarantine --------------------------------------------------------------------------
    def quarantine(self, job: str | None = None, *, include_replayed: bool = False) -> Result:
        """Quarantined records (sealed ones show a placeholder instead of their text)."""
        where = "true" if include_replayed else "replayed_at IS NULL"
        if job:
            where += f" AND job = {literal(job)}"
        (found,) = self.read(
            f'SELECT id, job, "$source", reason, raw, "at", run_id, sealed IS NOT NULL AS sealed, replayed_at '
            f"FROM system.quarantine WHERE {where} ORDER BY id"
        )
        return Result(found)

    def quarantine_record(
        self, record_id: int, *, decrypt: bool = False, actor: str | None = None
    ) -> dict[str, Any]:
        """One quarantined record. ``decrypt`` opens a sealed record and is written to system.audit."""
        from headwater.state import store

        with self._writing() if decrypt else self._reading() as lake:
            rel = lake.con.execute(
                f"SELECT * FROM {LAKE}.{SYSTEM_SCHEMA}.quarantine WHERE id = {int(record_id)}"
            ).to_arrow_table()
            if not rel.num_rows:
                raise UserError(
                    f"no quarantined record with id {record_id}",
                    hint="list them: `headwater quarantine list`",
                )
            record: dict[str, Any] = rel.to_pylist()[0]
            sealed = record.pop("sealed")
            if decrypt and sealed:
                from headwater.quality.secret import Sealer, project_secret

                record["raw"] = Sealer(project_secret(self.state_dir)).open(sealed)
                who = actor or current_user()
                with lake.transaction():
                    lake.execute(
                        f"INSERT INTO {LAKE}.{SYSTEM_SCHEMA}.audit VALUES (?, ?, ?, ?)",
                        [
                            store.utcnow(),
                            who,
                            "quarantine.decrypt",
                            f"record {record_id} of job {record['job']}",
                        ],
                    )
            record["sealed"] = bool(sealed)
            return record

    def replay_quarantine(self, job: str, ids: list[int] | None = None) -> ReplayResult:
        """Re-ingest a job's quarantined records through its current definition, exactly once."""
        catalog = self.validate_files()
        entry = catalog.job(job)
        if entry is None:
            known = ", ".join(e.name for e in catalog.jobs) or "none"
            raise UserError(f"no job named {job!r} (jobs: {known})")
        from headwater.runner.context import RunContext
        from headwater.runner.loop import project_lock
        from headwater.runner.replay import replay

        with project_lock(self.state_dir), self._writing() as lake:
            ctx = RunContext(lake, catalog, self.path, self.settings, self.console, drain=True)
            return replay(ctx, entry, ids)

    def replay(self, job: str, start: str | datetime, end: str | datetime | None = None) -> BackfillResult:
        """Run a transformation job's windows from ``start`` (to ``end``, default: its latest)
        again with its current SQL, replacing their output, and replay what depends on it; one
        transaction (``runner.backfill``). Applies the plan first, as ``run`` does."""
        from headwater.runner.backfill import check_replayable, parse_when, replay_job
        from headwater.runner.context import RunContext
        from headwater.runner.loop import Runner, project_lock

        since = parse_when(start, "--from") if isinstance(start, str) else start
        until = parse_when(end, "--to") if isinstance(end, str) else end
        catalog = self.validate_files()
        runner = Runner(catalog, self.path, self.settings, self._lake, self.console)
        check_replayable(catalog, runner.dag, job)
        with project_lock(self.state_dir), self._lake() as lake:
            runner._deploy(lake)
            ctx = RunContext(lake, runner.catalog, self.path, self.settings, self.console, drain=True)
            return replay_job(ctx, runner.dag, job, since, until)

    def _set_paused(self, lake: Lake, job: str, paused: bool) -> None:
        from headwater.state import store

        catalog = self.validate_files()
        if catalog.job(job) is None:
            known = ", ".join(e.name for e in catalog.jobs) or "none"
            raise UserError(f"no job named {job!r} (jobs: {known})")
        with lake.transaction():
            state = store.load_job_state(lake, job)
            state.paused = paused
            if not paused:
                state.failed, state.error = False, None
            store.save_job_state(lake, state)
            lake.execute(  # (system.jobs shows each job's newest status row)
                f"INSERT INTO {JOBS.log_table} SELECT name, kind, ?, target, last_run, "
                f"lag_seconds, NULL FROM {JOBS.view} WHERE name = ?",
                ["paused" if paused else "idle", job],
            )

    def pause(self, job: str) -> None:
        with self._writing() as lake:
            self._set_paused(lake, job, True)

    def resume(self, job: str) -> None:
        with self._writing() as lake:
            self._set_paused(lake, job, False)

    def read(self, *sqls: str) -> list[pa.Table]:
        """Answers to read-only queries (system.* names allowed): from the running ``run`` when
        one runs (it reads alongside its commits, the lake is not borrowed), else from the lake
        opened once for all of them."""
        from headwater.dialect import parse
        from headwater.dialect.nodes import Query
        from headwater.runner import interactive

        def local(lake: Lake, i: int) -> pa.Table:
            stmt = parse(sqls[i])[0]
            assert isinstance(stmt, Query)
            return interactive.run_query(lake, stmt, writes=False)

        return self._answers(sqls, lambda t: t, local)

    def _read_rows(self, *queries: tuple[str, str]) -> list[list[tuple[Any, ...]]]:
        """``read``'s answers as rows, each query given as Headwater SQL (for a running ``run``)
        and the DuckDB SQL the dialect makes of it: without a running ``run``, neither
        sqlglot, pyarrow nor pandas is imported (``status`` answers fast:
        tests/unit/cli/test_lazy_imports.py)."""

        def local(lake: Lake, i: int) -> list[tuple[Any, ...]]:
            return lake.fetchall(queries[i][1])

        return self._answers(tuple(q[0] for q in queries), _tuples, local)

    def _answers(
        self, sqls: tuple[str, ...], served: Callable[[pa.Table], T], local: Callable[[Lake, int], T]
    ) -> list[T]:
        out = [served(t) for t in self._served(sqls)]
        if len(out) < len(sqls):
            with self._reading() as lake:
                for i in range(len(out), len(sqls)):
                    out.append(local(lake, i))
        return out

    def _served(self, sqls: tuple[str, ...]) -> list[pa.Table]:
        """The answers a running ``run`` gives, in order, up to the first it does not."""
        out: list[pa.Table] = []
        for sql in sqls:
            answer = ask_query(self.state_dir, sql)
            if answer is None:
                break
            out.append(answer)
        return out

    # -- what the web console shows ------------------------------------------------------------
    def graph(self) -> dict[str, Any]:
        """The pipeline as nodes and edges, each job and view with its status, rows/s and lag."""
        from headwater import overview
        from headwater.listing import listing

        catalog = self.validate_files()
        status, (recent,) = self._status(
            listing(catalog),
            "SELECT job, sum(rows_written) AS n FROM system.runs "
            f"WHERE finished > now() - INTERVAL {overview.RATE_WINDOW_S} SECOND GROUP BY job",
        )
        rates = {r["job"]: float(r["n"] or 0) / overview.RATE_WINDOW_S for r in recent.to_pylist()}
        return overview.pipeline_graph(catalog, status, rates)

    def job_detail(self, name: str, *, runs: int = 200) -> dict[str, Any]:
        """A job's (or view's) definition, status, recent runs, and the chart series of its
        throughput, lag and expectations."""
        from headwater import overview
        from headwater.listing import listing

        catalog = self.validate_files()
        entry = catalog.job(name) or next(
            (v for v in catalog.views if v.name.removeprefix("main.") == name), None
        )
        if entry is None:
            known = ", ".join(e.name for e in [*catalog.jobs, *catalog.views]) or "none"
            raise UserError(f"no job or view named {name!r} (known: {known})")
        rows, (runs_t, checks_t) = self._status(
            listing(catalog), overview.runs_sql(name, runs), overview.expectations_sql(name)
        )
        status = next((r for r in rows if r["name"] == name), None)
        history = runs_t.to_pylist()
        return {
            "name": name,
            "kind": entry.kind,
            "sql": entry.sql,
            "reads": [str(t) for t in entry.reads],
            "writes": str(entry.writes),
            "status": status,
            "runs": history,
            "series": overview.job_series(history, checks_t.to_pylist()),
        }

    def table_detail(self, name: str) -> dict[str, Any]:
        """A table's columns, rows, size, preview, writers, readers and snapshots."""
        from headwater import overview

        catalog = self.validate_files()
        schema, dot, table = name.partition(".")
        if not dot or not schema.isidentifier() or not table.isidentifier():
            raise UserError(f"{name!r} is not a table name (schema.table)")
        columns, count, size, preview, snapshots = self.read(*overview.table_sqls(name))
        if not columns.num_rows:
            raise UserError(f"no table named {name} in the lake", hint="has the pipeline run?")
        entries = [*catalog.jobs, *catalog.views]
        return {
            "name": name,
            "columns": [
                {"name": c, "type": t, "system": c.startswith("$")}
                for c, t in zip(
                    columns.column("column_name").to_pylist(),
                    columns.column("data_type").to_pylist(),
                    strict=True,
                )
            ],
            "rows": count.column(0)[0].as_py(),
            "files": int(size.column("files")[0].as_py()),
            "bytes": int(size.column("bytes")[0].as_py()),
            "preview": preview,
            "snapshots": snapshots.to_pylist(),
            "writers": [e.name.removeprefix("main.") for e in entries if str(e.writes) == name],
            "readers": [e.name.removeprefix("main.") for e in entries if name in {str(t) for t in e.reads}],
        }

    def metrics(self) -> str:
        """Per job: rows by outcome, lag, run durations, failures; Prometheus text format."""
        from headwater import overview
        from headwater.listing import listing

        status, (totals,) = self._status(listing(self.validate_files()), overview.METRICS_SQL)
        return overview.prometheus(status, totals.to_pylist())

    def status(self) -> list[dict[str, Any]]:
        """One row per job and view of the project, with its deployed status and counters."""
        from headwater import listing

        files = self.sql_files()
        key = listing.files_key(self.path, files)
        listed = listing.load(self.state_dir, key)
        if listed is None:  # (the files changed since they were last checked: check them)
            listed = listing.listing(self.validate_files())
        else:
            self._check_data_path()  # (as validate_files does every time)
        rows = self._status(listed)[0]
        listing.save(self.state_dir, key, listed)
        return rows

    def _status(self, listed: list[Listed], *more: str) -> tuple[list[dict[str, Any]], list[pa.Table]]:
        """``status`` of the ``listed`` jobs and views, and the answers to ``more`` queries read
        at the same time."""
        from headwater.listing import status_queries

        queries = status_queries(listed)
        if more:  # (for the console, as Arrow tables; ``status`` alone reads rows: faster)
            jobs_t, totals_t, marks_t, paused_t, stopped_t, offsets_t, *extra = self.read(
                *(q[0] for q in queries), *more
            )
        else:
            jobs_t, totals_t, marks_t, paused_t, stopped_t, offsets_t = self._read_rows(*queries)
            extra = []
        rows = [
            t if isinstance(t, list) else _tuples(t) for t in (jobs_t, totals_t, marks_t, paused_t, stopped_t)
        ]
        jobs = {r[0]: r for r in rows[0]}
        totals = {r[0]: r[1:] for r in rows[1]}
        marks = dict(rows[2])
        paused = {r[0] for r in rows[3]}
        stopped = {r[0] for r in rows[4]}
        offsets = offsets_t if isinstance(offsets_t, list) else _tuples(offsets_t)
        live = live_status(self.state_dir)
        partitions = _partitions(offsets, live)
        out = []
        for entry in listed:
            name = entry.name
            row = jobs.get(name)
            runs, read, written, late = totals.get(name, (0, 0, 0, 0))
            mark = marks.get(name)
            status = (
                "paused" if name in paused else "failed" if name in stopped else (row[1] if row else "new")
            )
            if status in ("running", "idle"):
                status = "running" if live is not None else "idle"
            feed = (live or {}).get("jobs", {}).get(name)
            out.append(
                {
                    "name": name,
                    "kind": entry.kind,
                    "target": entry.target,
                    "status": status,
                    "runs": int(runs or 0),
                    "rows_read": int(read or 0),
                    "rows_written": int(written or 0),
                    "rows_late": int(late or 0),
                    "last_run": row[2].isoformat() if row and row[2] else None,
                    "lag_seconds": row[3] if row else None,
                    "watermark": mark.isoformat() if mark is not None else None,
                    "error": (feed or {}).get("error") or (row[4] if row else None),
                    **({"partitions": partitions.get(name, [])} if entry.streamed else {}),
                }
            )
        return out, extra


def _tuples(table: pa.Table) -> list[tuple[Any, ...]]:
    columns = [c.to_pylist() for c in table.columns]
    return list(zip(*columns, strict=True)) if columns else []


def _partitions(
    offsets: list[tuple[Any, ...]], live: dict[str, Any] | None
) -> dict[str, list[dict[str, Any]]]:
    """Per stream job, each partition's position and progress: as the running ``run`` knows it
    now when one runs, else as last saved in ``system.offsets``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for job, partition, position, committed_at, end, behind, seconds, connection in offsets:
        now = ((live or {}).get("jobs", {}).get(job) or {}).get("partitions", {}).get(partition)
        if now is not None:
            end, behind, seconds = now["end"], now["behind"], now["seconds_behind"]
            connection = (live or {})["jobs"][job]["connection"]
        elif live is None and connection is not None:
            connection = "not running"
        out.setdefault(job, []).append(
            {
                "partition": partition,
                "committed": position,
                "end": end,
                "behind": behind,
                "seconds_behind": seconds,
                "last_commit": committed_at.isoformat() if committed_at else None,
                "connection": connection,
            }
        )
    for job, feed in ((live or {}).get("jobs") or {}).items():
        seen = {p["partition"] for p in out.get(job, [])}
        for partition, now in feed["partitions"].items():
            if partition not in seen:  # (nothing committed from it yet)
                out.setdefault(job, []).append(
                    {
                        "partition": partition,
                        "committed": now["committed"],
                        "end": now["end"],
                        "behind": now["behind"],
                        "seconds_behind": now["seconds_behind"],
                        "last_commit": None,
                        "connection": feed["connection"],
                    }
                )
    return out


def current_user() -> str:
    """Who runs this process, for system.audit: the login name (from the environment, else the
    password database), else the numeric user id."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _reject_unknown(stmt: AnyStatement) -> None:
    """SQL that neither Headwater nor sqlglot understands (e.g. a misspelled CREATE JOB) is an
    error, not a statement that silently does nothing."""
    from sqlglot import exp

    from headwater.dialect.nodes import Query
    from headwater.dialect.readonly import explained

    if (
        isinstance(stmt, Query)
        and isinstance(stmt.expression, exp.Command)
        and explained(stmt.expression) is None
    ):
        words = " ".join(stmt.text.split()[:3])
        raise UserError(
            f"{stmt.pos}: unknown statement {words!r}",
            hint="see docs/sql-reference.md for the statements Headwater understands",
        )


__all__ = ["ParseError", "Project", "Result"]


def __getattr__(name: str) -> Any:
    """``ParseError`` is imported on first use (with the SQL dialect, which needs sqlglot)."""
    if name == "ParseError":
        from headwater.dialect import ParseError

        return ParseError
    raise AttributeError(f"module 'headwater.api' has no attribute {name!r}")
