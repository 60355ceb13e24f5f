"""``headwater quarantine list|show|replay``: the records that could not be stored, and getting
them in once the data or the job is fixed."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from headwater.cli.console import stderr_console, stdout_console
from headwater.cli.params import PlainGroup
from headwater.cli.render import plural, to_json

quarantine_app = typer.Typer(
    name="quarantine",
    help="List, show and replay quarantined records.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=PlainGroup,
)

ProjectDir = Annotated[
    Path,
    typer.Option("--project", "-p", help="The project folder.", show_default="the current folder"),
]


def _handled() -> AbstractContextManager[None]:
    from headwater.cli.app import reported_errors

    return reported_errors()


def _tail(text: str, width: int) -> str:
    """The end of a long ``$source`` (its file name and line), cut on the left."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def quarantine_table(rows: list[dict[str, Any]], width: int) -> Table:
    """One line per record, whatever the terminal's width: the reason and the raw text are cut
    with an ellipsis (`quarantine show <id>` prints a record whole), a long $source keeps its end."""
    table = Table(header_style="bold cyan", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    sources = [_tail(str(r["$source"]), max(24, width // 4)) for r in rows]
    fixed = {
        "id": max([2, *(len(str(r["id"])) for r in rows)]),
        "job": min(20, max([3, *(len(str(r["job"])) for r in rows)])),
        "$source": max([7, *(len(s) for s in sources)]),
    }
    for name, size in fixed.items():
        table.add_column(
            name, width=size, no_wrap=True, overflow="ellipsis", justify="right" if name == "id" else "left"
        )
    rest = max(20, width - sum(fixed.values()) - 3 * len(fixed) - 3)  # what the other columns leave
    table.add_column("reason", no_wrap=True, overflow="ellipsis", max_width=rest // 3)
    table.add_column("raw", no_wrap=True, overflow="ellipsis", max_width=rest - rest // 3)
    for r, source in zip(rows, sources, strict=True):
        text = r["raw"]
        raw = Text("NULL", style="dim") if text is None else Text(" ⏎ ".join(str(text).splitlines()))
        table.add_row(str(r["id"]), str(r["job"]), source, str(r["reason"]), raw)
    return table


@quarantine_app.command("list")
def list_(
    job: Annotated[str | None, typer.Option("--job", "-j", help="Only this job's records.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include records already replayed.")] = False,
    project: ProjectDir = Path("."),
    json_: Annotated[bool, typer.Option("--json", help="One JSON document instead of a table.")] = False,
) -> None:
    """List quarantined records, one line each: id, job, $source, reason, and the start of
    their text (sealed records show a placeholder). `quarantine show <id>` prints one whole;
    --json prints every field of every record."""
    with _handled():
        from headwater.api import Project

        result = Project(project).quarantine(job, include_replayed=all_)
        if json_:
            typer.echo(to_json(result.rows()))
            return
        rows = result.rows()
        out = stdout_console()
        out.print(quarantine_table(rows, out.width))
        stderr_console().print(Text(plural(len(rows), "record"), style="dim"))


@quarantine_app.command("show")
def show(
    record_id: Annotated[int, typer.Argument(help="The record's id (from `quarantine list`).")],
    decrypt: Annotated[
        bool, typer.Option("--decrypt", help="Open a sealed record (PII in clear); recorded in system.audit.")
    ] = False,
    project: ProjectDir = Path("."),
) -> None:
    """Show one quarantined record, all its fields."""
    with _handled():
        from headwater.api import Project

        record = Project(project).quarantine_record(record_id, decrypt=decrypt)
        typer.echo(to_json([record]))


@quarantine_app.command("replay")
def replay(
    job: Annotated[str, typer.Argument(help="The ingestion job whose records to replay.")],
    ids: Annotated[list[int] | None, typer.Option("--id", help="Only these records (repeatable).")] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Re-ingest a job's quarantined records through its current definition, exactly once.

    Fix the data's cause in the job (an expectation, a column type) first. Records that still
    fail are quarantined again; the replayed ones are marked with the run that replayed them.
    """
    with _handled():
        from headwater.api import Project

        result = Project(project).replay_quarantine(job, ids or None)
        if not result.replayed:
            stdout_console().print(Text(f"nothing to replay for {job}", style="dim"))
            return
        stdout_console().print(
            Text(
                f"replayed {plural(result.replayed, 'record')} of {job}: {result.written} written "
                f"(run {result.run_id}); the rest are in the quarantine again or were dropped",
                style="green",
            )
        )
