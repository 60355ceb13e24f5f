"""A query's rows as Python values without pyarrow: ``headwater query`` prints them, and
importing pyarrow with numpy costs about 0.08 s of its start (docs/benchmarks.md, "CLI
latency").

The values are those of the Arrow table's ``to_pylist()``, which ``Project.query`` returns,
so that the command prints what it printed before. DuckDB's ``fetchall()`` gives the same
values for the column types below, or values converted to them; for any other type
(intervals, maps, nested values, TIME WITH TIME ZONE, nanosecond timestamps...) and any value
it does not give as Arrow does (infinities, dates past 9999) the rows come from the Arrow
table, as before.
``tests/unit/lake/test_rows.py`` compares both, type by type.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

Row = tuple[Any, ...]

_AS_IS = frozenset(
    {
        "boolean",
        "tinyint",
        "smallint",
        "integer",
        "bigint",
        "utinyint",
        "usmallint",
        "uinteger",
        "ubigint",
        "float",
        "double",
        "decimal",
        "varchar",
        "blob",
        "enum",
    }
)
# What Arrow gives in Python for the types whose fetchall() value differs only in its class.
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "hugeint": Decimal,  # (Arrow: decimal128(38, 0))
    # (Arrow gives UHUGEINT as decimal128(38, 0) too, where a value past 2**127 wraps to a
    # negative one: it is read with fetchall(), exactly, and printed as such)
    "uhugeint": Decimal,
    "uuid": str,
}
# Dates and times: fetchall() clamps infinities to the extremes of Python's types and gives
# out-of-range values (TIME '24:00:00', dates past year 9999) as text, where Arrow gives other
# values or fails: such a column is read from Arrow.
_WHEN: dict[str, type] = {
    "date": date,
    "time": time,
    "timestamp": datetime,
    "timestamp_s": datetime,
    "timestamp_ms": datetime,
}
_EXTREMES = frozenset({date.min, date.max, datetime.min, datetime.max})
# Times with a zone: fetchall() gives the same instant, in the same zone, with another tzinfo
# class (and for old dates, the zone's local mean time where Arrow's zoneinfo gives its first
# standard offset): converted to what Arrow gives.
_ZONED = "timestamp with time zone"


def relation_rows(rel: duckdb.DuckDBPyRelation, zone: Callable[[], str]) -> tuple[list[str], list[Row]]:
    """``rel``'s column names and rows, as ``rel.to_arrow_table()`` would give them.
    ``zone``: the connection's ``TimeZone`` setting, in which Arrow gives times with a zone."""
    columns = list(rel.columns)
    kinds: list[str] = [t.id for t in rel.types]
    if "interval" in kinds:  # (Arrow gives (months, days, nanoseconds): printed as DuckDB writes it)
        clock = [i for i, k in enumerate(kinds) if k.startswith(("timestamp", "time", "date"))]
        odd = bool(clock) and any(
            type(r[i]) is str or r[i] in _EXTREMES for r in rel.fetchall() for i in clock
        )
        try:
            return _as_text(rel, kinds, dates=odd)
        except (OverflowError, ValueError):
            return _as_text(rel, kinds, dates=True)
    if not all(k in _AS_IS or k in _CONVERT or k in _WHEN or k == _ZONED for k in kinds):
        return _arrow_or_text(rel, kinds)
    rows = rel.fetchall()
    try:
        return columns, _as_arrow_gives(rows, kinds, zone)
    except _OutOfRange:
        return _as_text(rel, kinds, dates=True)
    except _NotAsArrow:
        return _arrow_or_text(rel, kinds)  # (the query runs again, in the same transaction)


def _arrow_or_text(rel: duckdb.DuckDBPyRelation, kinds: list[str]) -> tuple[list[str], list[Row]]:
    try:
        return arrow_rows(rel.to_arrow_table())
    except (OverflowError, ValueError):  # (an infinity, or a date Python's types cannot hold)
        return _as_text(rel, kinds, dates=True)


def _as_text(rel: duckdb.DuckDBPyRelation, kinds: list[str], *, dates: bool) -> tuple[list[str], list[Row]]:
    """The rows with intervals, and with ``dates`` every date and time, as DuckDB writes them:
    for values Python's types cannot hold (``infinity``, ``TIME '24:00:00'``, years past 9999),
    which Arrow refuses or changes. UHUGEINTs exact (Arrow wraps those past 2**127)."""
    names = ['"' + c.replace('"', '""') + '"' for c in rel.columns]

    def text(kind: str) -> bool:
        return kind in ("interval", "uhugeint") or (dates and kind.startswith(("timestamp", "time", "date")))

    exprs = [
        f"CAST(#{i} AS VARCHAR) AS {n}" if text(k) else f"#{i} AS {n}"
        for i, (k, n) in enumerate(zip(kinds, names, strict=True), start=1)
    ]
    columns, rows = arrow_rows(rel.project(", ".join(exprs)).to_arrow_table())
    exact: list[tuple[int, Callable[[Any], Any]]] = [
        (i, Decimal) for i, k in enumerate(kinds) if k == "uhugeint"
    ]
    return columns, [_converted(r, exact) for r in rows] if exact else rows


class _OutOfRange(Exception):
    """A date or time fetchall() gives as text: one Python's types cannot hold."""


class _NotAsArrow(Exception):
    """A value that fetchall() does not give as Arrow does."""


def _as_arrow_gives(rows: list[Row], kinds: list[str], zone: Callable[[], str]) -> list[Row]:
    for i, kind in enumerate(kinds):
        when = _WHEN.get(kind)
        if when is not None and any(type(r[i]) is str for r in rows):
            raise _OutOfRange(kind)
        if when is not None and not all(
            v is None or (type(v) is when and v not in _EXTREMES) for v in (r[i] for r in rows)
        ):
            raise _NotAsArrow(kind)
    converts = [(i, _CONVERT[k]) for i, k in enumerate(kinds) if k in _CONVERT]
    if _ZONED in kinds:
        try:
            local = ZoneInfo(zone())
        except (ValueError, ZoneInfoNotFoundError):
            raise _NotAsArrow(_ZONED) from None
        converts += [(i, functools.partial(_zoned, local)) for i, k in enumerate(kinds) if k == _ZONED]
    if not converts:
        return rows
    return [_converted(row, converts) for row in rows]


def _zoned(local: ZoneInfo, value: Any) -> datetime:
    """A time with a zone as Arrow gives it: in the connection's zone, a ``ZoneInfo``."""
    if type(value) is not datetime or value.tzinfo is None or value.replace(tzinfo=None) in _EXTREMES:
        raise _NotAsArrow(value)  # (an infinity, clamped, or a value past year 9999, as text)
    try:
        return value.astimezone(local)
    except (OverflowError, ValueError):
        raise _NotAsArrow(value) from None


def _converted(row: Row, converts: list[tuple[int, Callable[[Any], Any]]]) -> Row:
    values = list(row)
    for i, convert in converts:
        if values[i] is not None:
            values[i] = convert(values[i])
    return tuple(values)


def arrow_rows(table: pa.Table) -> tuple[list[str], list[Row]]:
    """An Arrow table's column names and rows."""
    columns = [c.to_pylist() for c in table.columns]
    return table.column_names, list(zip(*columns, strict=True)) if columns else []
