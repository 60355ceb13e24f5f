"""Turning results, status rows and plans into text: Rich tables for people, JSON and CSV for pipes.

JSON and CSV share one set of value rules, so a value reads the same in both:
timestamps, dates and times are ISO 8601 strings; decimals are exact numbers (JSON) or their
exact text (CSV); intervals are DuckDB's text; binary values are base64; NULL is ``null`` (JSON)
or an empty field (CSV); nested STRUCT and LIST values are JSON objects and arrays.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from headwater.plan import Plan

_ACTION_STYLE = {"+": "green", "~": "yellow", "-": "red", "!": "red", "*": "yellow"}
_STATUS_STYLE = {
    "failed": "bold red",
    "paused": "yellow",
    "idle": "green",
    "running": "green",
    "new": "dim",
    "waiting": "cyan",
    "blocked": "red",
    "retrying": "yellow",
}
_CONNECTION_STYLE = {
    "connected": "green",
    "reconnecting": "yellow",
    "retrying": "bold red",
    "connecting": "cyan",
}


# -- JSON ------------------------------------------------------------------------------------
def json_value(value: Any) -> str:
    """One value as JSON text. Decimals are written digit for digit, never through a float."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # JSON has no NaN or infinity: those are written as strings
        return json.dumps(value) if math.isfinite(value) else json.dumps(non_finite(value))
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else "null"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {json_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(json_value(v) for v in value) + "]"
    if isinstance(value, timedelta):
        return json_value(Decimal(value.days * 86400 + value.seconds) + Decimal(value.microseconds) / 10**6)
    return json.dumps(scalar_text(value))


def to_json(rows: Iterable[dict[str, Any]]) -> str:
    """A list of row objects, one row per line: one JSON document that stays readable."""
    lines = [json_value(row) for row in rows]
    if not lines:
        return "[]"
    return "[\n  " + ",\n  ".join(lines) + "\n]"


# -- CSV -------------------------------------------------------------------------------------
def to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_value(v) for v in row])
    return out.getvalue()


def non_finite(value: float) -> str:
    """NaN and the infinities as DuckDB reads them back (``CAST('NaN' AS DOUBLE)``)."""
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return non_finite(value)
    if isinstance(value, bool | int | float | Decimal | dict | list | tuple | timedelta):
        text = json_value(value)
        return "" if text == "null" else text
    return scalar_text(value)


# -- shared scalars --------------------------------------------------------------------------
def scalar_text(value: Any) -> str:
    """Text for a value that JSON has no type for."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def cell(value: Any) -> Text:
    """A value for a Rich table cell."""
    if value is None:
        return Text("NULL", style="dim")
    if isinstance(value, str):
        return Text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return Text(non_finite(value))
    if isinstance(value, bool | int | float | Decimal | dict | list | tuple | timedelta):
        return Text(json_value(value))
    return Text(scalar_text(value))


# -- tables ----------------------------------------------------------------------------------
def result_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> Table:
    """Numbers are right-aligned; NULL is shown dimmed."""
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold cyan")
    rows = list(rows)
    for i, name in enumerate(columns):
        values = [row[i] for row in rows if row[i] is not None]
        numeric = bool(values) and all(_is_number(v) for v in values)
        table.add_column(name, overflow="fold", justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    return table


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def status_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(header_style="bold cyan")
    for name, justify in [
        ("name", "left"),
        ("kind", "left"),
        ("target", "left"),
        ("status", "left"),
        ("runs", "right"),
        ("rows read", "right"),
        ("rows written", "right"),
        ("last run", "left"),
        ("lag", "right"),
        ("watermark", "left"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        status = str(row["status"])
        table.add_row(
            Text(str(row["name"])),
            Text(str(row["kind"])),
            Text(str(row["target"])),
            Text(status, style=_STATUS_STYLE.get(status, "")),
            f"{row['runs']:,}",
            f"{row['rows_read']:,}",
            f"{row['rows_written']:,}",
            Text(_short_time(row["last_run"])),
            Text(_lag(row["lag_seconds"])),
            Text(_short_time(row.get("watermark"))),
        )
    return table


def partitions_table(rows: Sequence[dict[str, Any]]) -> Table | None:
    """Each partition of the stream jobs: position, end, how far behind, connection."""
    parts = [(row["name"], p) for row in rows for p in row.get("partitions") or []]
    if not parts:
        return None
    table = Table(header_style="bold cyan")
    for name, justify in [
        ("job", "left"),
        ("partition", "left"),
        ("committed", "right"),
        ("end", "right"),
        ("behind", "right"),
        ("seconds behind", "right"),
        ("last commit", "left"),
        ("connection", "left"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for job, p in parts:
        connection = str(p["connection"] or "-")
        table.add_row(
            Text(str(job)),
            Text(str(p["partition"])),
            "-" if p["committed"] is None else f"{p['committed']:,}",
            "-" if p["end"] is None else f"{p['end']:,}",
            "-" if p["behind"] is None else f"{p['behind']:,}",
            Text(_lag(p["seconds_behind"])),
            Text(_short_time(p["last_commit"])),
            Text(connection, style=_CONNECTION_STYLE.get(connection, "dim")),
        )
    return table


def status_errors(rows: Sequence[dict[str, Any]]) -> Text | None:
    """The last error of each job that has one, to print under the status table."""
    errors = [(str(row["name"]), str(row["error"])) for row in rows if row.get("error")]
    if not errors:
        return None
    out = Text()
    for name, error in errors:
        out.append(f"{name}: ", style="bold red").append(error, style="red").append("\n")
    out.rstrip()
    return out


def _short_time(value: str | None) -> str:
    if not value:
        return "-"
    return value.replace("T", " ").split(".")[0].split("+")[0]


def _lag(seconds: float | None) -> str:
    return "-" if seconds is None else format_seconds(float(seconds))


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


# -- plans -----------------------------------------------------------------------------------
def plan_line(line: str) -> Text:
    """One ``explain`` line, coloured by its action symbol."""
    style = _ACTION_STYLE.get(line[:1], "dim")
    return Text(line, style=style)


def plan_text(plan: Plan) -> Text:
    out = Text()
    for line in plan.explain():
        out.append_text(plan_line(line)).append("\n")
    if plan.refresh:
        out.append("\n")
        for line in plan.explain_refresh():
            out.append(line, style="dim" if ": full recompute" in line else "").append("\n")
    if plan.order:
        out.append("\nrun order: ", style="bold").append(" → ".join(plan.order))
    else:
        out.append("\nnothing to run: the project has no jobs or views", style="dim")
    return out


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {many or word + 's'}"
