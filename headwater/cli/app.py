"""``headwater``: the command line, a thin shell over ``headwater.Project``.

Exit codes: 0 success, 1 a job or the pipeline failed, 2 a user error (bad SQL, bad option,
missing file). Every command goes through ``handled``, the one place errors become exit codes.

Imports are lazy, so that the CLI answers at once (docs/benchmarks.md, "CLI latency"): at module
level this file imports only the standard library, Typer, Rich's ``Text``, ``headwater.errors``
and the CLI's own console and render modules (Rich only). A command imports what it needs inside its
function -- ``from headwater.api import Project`` first thing in the body, anything heavier
(``pyarrow``, ``headwater.runner``, a source, the web app) where it is used -- so that
``headwater --help`` and every other command pay only for their own.
``tests/unit/cli/test_lazy_imports.py`` fails when ``--help`` imports a heavy module.
"""

from __future__ import annotations

import functools
import os
import shlex
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.text import Text

from headwater import __version__
from headwater.cli.console import TerminalConsole, report_error, stderr_console, stdout_console
from headwater.cli.params import PlainGroup
from headwater.cli.render import (
    partitions_table,
    plan_text,
    plural,
    result_table,
    status_errors,
    status_table,
    to_csv,
    to_json,
)
from headwater.errors import HeadwaterError, UserError

if TYPE_CHECKING:
    from headwater.plan.errors import DropNotAllowed

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="headwater",
    help="SQL-first data pipelines on an embedded lakehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=PlainGroup,
)


class QueryFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class StatusFormat(StrEnum):
    table = "table"
    json = "json"


ProjectDir = Annotated[
    Path,
    typer.Option("--project", "-p", help="The project folder.", show_default="the current folder"),
]


# -- errors ----------------------------------------------------------------------------------
@contextmanager
def reported_errors() -> Iterator[None]:
    """Map exceptions to messages and exit codes: 2 user error, 1 job failure or bug."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except UserError as e:
        report_error(stderr_console(), e.message, e.hint)
        raise typer.Exit(2) from None
    except HeadwaterError as e:
        report_error(stderr_console(), e.message, e.hint)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        stderr_console().print(Text("interrupted", style="yellow"))
        raise typer.Exit(130) from None
    except Exception as e:
        err = stderr_console()
        err.print(Text(f"internal error: {type(e).__name__}: {e}", style="bold red"))
        err.print(Text(traceback.format_exc().rstrip(), style="dim"))
        err.print(Text("this is a bug in Headwater: please report it with the traceback above", style="red"))
        raise typer.Exit(1) from None


def handled(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reported_errors():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# -- commands --------------------------------------------------------------------------------
def _version(value: bool) -> None:
    if value:
        typer.echo(f"headwater {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """SQL-first data pipelines on an embedded lakehouse."""


@app.command()
@handled
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
) -> None:
    """Scaffold a project that runs as it is: settings, a pipeline, sample data.

    Writes headwater.toml (every setting, commented out), pipeline.sql (a files connection,
    an ingestion job, a transformation job and a materialized view) and
    data/landing/orders.jsonl, plus a .gitignore when the folder has none. Never overwrites
    a file: `headwater run --once` works right away in the new folder.
    """
    from rich.panel import Panel

    from headwater.cli.scaffold import init_project

    made = init_project(directory)
    out = stdout_console()
    out.print(Text(f"created a Headwater project in {directory}", style="bold green"))
    for name in made.written:
        out.print(Text(f"  + {name}", style="green"))
    for name in made.kept:
        out.print(Text(f"  = {name} (kept as it was)", style="dim"))
    here = "" if directory.resolve() == Path.cwd() else f"cd {shlex.quote(str(directory))}\n"
    out.print(
        Panel(
            Text(
                f"{here}headwater run --once\n"
                'headwater query "SELECT * FROM gold.revenue_by_customer ORDER BY revenue DESC"\n'
                "headwater status"
            ),
            title="next",
            title_align="left",
            expand=False,
        )
    )


@app.command()
@handled
def validate(project: ProjectDir = Path(".")) -> None:
    """Parse and check every .sql file; errors as file:line:col.

    Prints `ok: N statements, J jobs, T tables` and a `warning:` line for what is valid but
    most likely a mistake (an INSERT job without a window filter), or the first error with
    its place and the offending line. Changes nothing.
    """
    from headwater.api import Project
    from headwater.catalog.warnings import warnings

    catalog = Project(project).validate()
    statements = len(catalog.entries) + len(catalog.queries)
    summary = f"ok: {plural(statements, 'statement')}, {plural(len(catalog.jobs), 'job')}, "
    summary += plural(len(catalog.known_tables()), "table")
    stdout_console().print(Text(summary, style="green"))
    for warning in warnings(catalog):
        stdout_console().print(Text(f"warning: {warning}", style="yellow"))


@app.command()
@handled
def plan(project: ProjectDir = Path(".")) -> None:
    """Show what `run` would change in the deployed pipeline, how each view refreshes, and the run order.

    `+` creates, `~` updates (the statement changed), `-` drops (the statement was
    removed; dropping a table or a job needs `run --allow-drop`), `=` keeps a table whose
    CREATE TABLE was removed while a job still uses it. Under a changed job, what happens
    to its data (an edited transformation job's new SQL applies from its next window; the
    rows already written change only with `headwater replay`). `*` lines are options set
    with ALTER JOB ... SET, `!` lines the jobs and views that failed or are blocked by a
    failed job upstream. Then one line per materialized view: `incremental` (refreshed
    from its inputs' changes) or `full recompute: <why>`. Changes nothing: `run` applies
    the plan.
    """
    from headwater.api import Project

    stdout_console().print(plan_text(Project(project).plan()))


@app.command()
@handled
def run(
    project: ProjectDir = Path("."),
    once: Annotated[
        bool, typer.Option("--once", help="Process everything available now, then exit.")
    ] = False,
    allow_drop: Annotated[
        bool,
        typer.Option(
            "--allow-drop",
            help="Apply a plan that drops tables (and their rows) or jobs (and their positions).",
        ),
    ] = False,
) -> None:
    """Run the pipeline until interrupted (Ctrl-C or SIGTERM), or once with --once.

    Applies the plan, then ingests new data and runs closed windows, pass after pass.
    Ctrl-C or SIGTERM stops it after the current batch (a second Ctrl-C aborts; nothing
    committed is lost). With --once it processes everything available now, then exits 0, or
    1 if a job failed. One `run` per project at a time; `query` and `status` work alongside.
    A plan that drops a table or a job (its statement was removed) is refused, before
    anything changes, unless --allow-drop is given or, in a terminal, the drops are confirmed
    at the prompt; `plan` shows what it would drop.
    """
    from headwater.api import Project
    from headwater.plan.errors import DropNotAllowed

    err = stderr_console()
    started = time.monotonic()
    console = TerminalConsole(err)
    opened = Project(project, console=console)
    if console.use_live:
        catalog = opened.validate_files()
        kinds = {"ingest_job": "ingest", "transform_job": "transform", "materialized_view": "view"}
        console.expect([(e.name, kinds[e.kind]) for e in [*catalog.jobs, *catalog.views]])
    try:
        with console:
            result = opened.run(once=once, allow_drop=allow_drop)
    except DropNotAllowed as refused:
        if not _confirm_drops(refused):
            raise
        console = TerminalConsole(err)
        opened = Project(project, console=console)
        with console:
            result = opened.run(once=once, allow_drop=True)
    took = time.monotonic() - started
    summary = (
        f"{plural(result.passes, 'pass', 'passes')}, "
        f"{plural(result.rows_written, 'row')} written in {took:.1f}s"
    )
    if result.failed_jobs:
        for job, message in result.failed_jobs.items():
            first = message.splitlines()[0] if message else ""
            err.print(Text.assemble(("✗ ", "red"), (f"{job}: ", "bold red"), (first, "red")))
    if once:
        style = "green" if result.ok else "red"
        err.print(Text(f"{'done' if result.ok else 'failed'}: {summary}", style=style))
        if not result.ok:
            raise typer.Exit(1)
    else:
        err.print(Text(f"stopped cleanly: {summary}", style="green"))


def _confirm_drops(refused: DropNotAllowed) -> bool:
    """In a terminal, a plan that drops data asks first (elsewhere it needs --allow-drop)."""
    import sys

    if not sys.stdin.isatty():
        return False
    err = stderr_console()
    err.print(
        Text(f"run would drop {', '.join(refused.drops)}, no longer in the project's files:", style="red")
    )
    err.print(Text("their rows (tables) or source positions (jobs) are deleted", style="red"))
    return typer.confirm("drop them?", default=False, err=True)


@app.command()
@handled
def query(
    sql: Annotated[str, typer.Argument(help="SQL over the lake and system tables, or PAUSE/RESUME JOB.")],
    project: ProjectDir = Path("."),
    format: Annotated[
        QueryFormat, typer.Option("--format", "-f", help="table for people; json or csv for programs.")
    ] = QueryFormat.table,
    allow_writes: Annotated[
        bool,
        typer.Option(
            "--allow-writes",
            help="Allow statements that change data (INSERT, UPDATE, DELETE, DROP TABLE, ...).",
        ),
    ] = False,
) -> None:
    """Run SQL over the lake and the system tables; read-only unless --allow-writes.

    Any DuckDB query over the lake's tables (with their $event_time, $commit_time, $source
    and $run_id columns) and system.jobs, system.runs, system.expectations,
    system.quarantine, system.lineage, system.offsets and system.gaps: SELECT, WITH, SHOW,
    DESCRIBE, SUMMARIZE, EXPLAIN and reading PRAGMAs. PAUSE JOB, RESUME JOB and ALTER JOB
    (SET, ADD|DROP EXPECTATION) too. Anything else that changes data is refused (exit 2)
    unless --allow-writes is given; even then the system and internal tables take no
    writes, and DROP JOB|TABLE|MATERIALIZED VIEW|CONNECTION only drops what no statement of
    the project declares or uses (it names them otherwise).
    """
    from headwater.api import Project

    columns, rows = Project(project)._query_rows(sql, allow_writes=allow_writes)
    if format is QueryFormat.json:
        typer.echo(to_json(dict(zip(columns, row, strict=True)) for row in rows))
    elif format is QueryFormat.csv:
        typer.echo(to_csv(columns, rows), nl=False)
    else:
        out = stdout_console()
        out.print(result_table(columns, rows))
        stderr_console().print(Text(plural(len(rows), "row"), style="dim"))


@app.command()
@handled
def status(
    project: ProjectDir = Path("."),
    format: Annotated[
        StatusFormat, typer.Option("--format", "-f", help="table or json.")
    ] = StatusFormat.table,
) -> None:
    """Show each job and view: status, runs, rows, last run, lag, watermark, error; and each partition
    of the stream jobs: committed and end offsets, messages and seconds behind, last commit,
    connection.

    A status is new (never run), idle, running (a `run` is going on), paused, retrying (a
    transient error: tried again with backoff), failed, or blocked (waits for a failed job
    upstream, named in its error).
    """
    from headwater.api import Project

    rows = Project(project).status()
    if format is StatusFormat.json:
        typer.echo(to_json(rows))
    elif rows:
        out = stdout_console()
        out.print(status_table(rows))
        partitions = partitions_table(rows)
        if partitions is not None:
            out.print(partitions)
        errors = status_errors(rows)
        if errors is not None:
            out.print(errors)
    else:
        stderr_console().print(Text("the project has no jobs or views", style="dim"))


@app.command()
@handled
def pause(
    job: Annotated[str, typer.Argument(help="The job to pause.")],
    project: ProjectDir = Path("."),
) -> None:
    """Pause a job: it stays paused, across runs, until resumed.

    Same as `headwater query "PAUSE JOB <job>"`. Jobs downstream of it get no new rows from it meanwhile.
    """
    from headwater.api import Project

    Project(project).pause(job)
    stdout_console().print(Text(f"paused {job}", style="yellow"))


@app.command()
@handled
def resume(
    job: Annotated[str, typer.Argument(help="The job to resume.")],
    project: ProjectDir = Path("."),
) -> None:
    """Resume a paused or failed job; it continues from where it stopped.

    Same as `headwater query "RESUME JOB <job>"`. The next `run` picks it up.
    """
    from headwater.api import Project

    Project(project).resume(job)
    stdout_console().print(Text(f"resumed {job}", style="green"))


@app.command()
@handled
def replay(
    job: Annotated[str, typer.Argument(help="The transformation job whose windows to run again.")],
    since: Annotated[
        str,
        typer.Option(
            "--from", help="The first window: the one containing this time (ISO 8601; UTC without a zone)."
        ),
    ],
    until: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Stop before the window starting at or after this time.",
            show_default="the job's latest window",
        ),
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Run a transformation job's windows again with its current SQL (backfill).

    The job's windows from the one containing --from up to --to (default: all it has run)
    run again with the SQL in the project's files; their old output is replaced by the new
    one in one transaction, so a reader never sees both or neither. The transformation jobs
    downstream run again from the first window that read a replaced row, and the
    materialized views downstream are recomputed, in the same transaction. Applies the plan
    first, as `run` does; cannot run while a `run` of the project is running. MERGE jobs
    cannot be replayed. See docs/replay.md.
    """
    from headwater.api import Project

    with TerminalConsole(stderr_console()) as console:
        result = Project(project, console=console).replay(job, since, until)
    out = stdout_console()
    rows = [
        (
            r.job,
            r.because_of or "",
            r.window_from.isoformat(),
            r.window_to.isoformat(),
            r.windows,
            r.rows_removed,
            r.rows_written,
        )
        for r in result.jobs
    ]
    columns = ["job", "downstream of", "from", "to", "windows", "rows removed", "rows written"]
    out.print(result_table(columns, rows))
    for view in result.views:
        out.print(Text(f"recomputed materialized view {view}", style="dim"))


@app.command()
@handled
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to build the demo.")] = Path("headwater-demo"),
) -> None:
    """Generate a web shop's data, build the demo pipeline, and show what it answers.

    Puts the example shop project in the folder (headwater-demo by default), generates a
    month of raw orders, customers and payments once, runs the pipeline once and prints its
    answers. Running it again reads
    nothing new and prints the same answers.
    """
    from rich.panel import Panel

    from headwater.demo import run_demo

    err = stderr_console()
    with TerminalConsole(err) as console:
        answers = run_demo(directory, console)
    out = stdout_console()
    for title, result in answers:
        out.print(result_table(result.columns, result.fetchall(), title=title))
        out.print()
    p = f" -p {shlex.quote(str(directory))}"
    out.print(
        Panel(
            Text(
                f"headwater status{p}\n"
                f"headwater plan{p}\n"
                f'headwater query{p} "SELECT job, window_start, rows_read, rows_written FROM system.runs"\n'
                f"headwater ui{p}           # the web console: graph, jobs, tables, quarantine, SQL\n"
                f"headwater run{p}          # keep it running; add files to its landing folder"
            ),
            title="try next",
            title_align="left",
            expand=False,
        )
    )


@app.command()
@handled
def ui(
    project: ProjectDir = Path("."),
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The port to listen on.")] = 8765,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow listening on an address other machines can reach."),
    ] = False,
    allow_writes: Annotated[
        bool,
        typer.Option(
            "--allow-writes",
            help="Let the worksheet run statements that change data (as `query --allow-writes`).",
        ),
    ] = False,
) -> None:
    """Start the web console: the pipeline graph, jobs, tables, quarantine, a SQL worksheet.

    Listens on 127.0.0.1:8765 until interrupted and prints the URL to open, with a random
    token every request needs (the browser keeps it in a cookie; HEADWATER_UI_TOKEN fixes
    it). Works alongside a running `headwater run`: pages refresh every few seconds.
    /metrics serves Prometheus metrics (send the token as `Authorization: Bearer <token>`).
    The worksheet is read-only unless --allow-writes is given; a non-loopback --host needs
    --allow-remote.
    """
    from headwater.api import Project
    from headwater.web.app import serve  # (starlette and jinja2 load only for this command)

    opened = Project(project)
    opened.validate_files()
    out = stdout_console()

    def announce(url: str) -> None:
        out.print(Text.assemble(("headwater console: ", "bold green"), (url, "bold")), soft_wrap=True)
        out.print(Text("open it in a browser; Ctrl-C stops the console", style="dim"))

    token = os.environ.get("HEADWATER_UI_TOKEN") or None
    if token is not None and len(token) < 16:
        raise UserError(
            "HEADWATER_UI_TOKEN is too short to guard the console (fewer than 16 characters)",
            hint="use a long random value, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`",
        )
    serve(
        opened,
        host=host,
        port=port,
        allow_remote=allow_remote,
        allow_writes=allow_writes,
        token=token,
        announce=announce,
    )


from headwater.cli.quarantine import quarantine_app  # noqa: E402

app.add_typer(quarantine_app)


def main() -> None:
    """The ``headwater`` console script."""
    app(prog_name="headwater")


if __name__ == "__main__":
    main()
