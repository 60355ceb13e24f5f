"""Inference never chooses a type that changes a value, and a cast never changes one silently.

Each value decoded from a CSV or JSON chunk is compared with the input computed independently
in Python: a value is either stored as what its text says (casting it back reproduces the
text, see docs/sql-reference.md "Types of ingested columns"), or its record is rejected with a
reason — never stored changed.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.sources.csv_lines import split_csv
from headwater.sources.decode import decode
from headwater.sources.errors import NoColumns
from headwater.sources.files import LINE_COLUMN, RAW_COLUMN, FileChunk, FilePosition

INTEGERS = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.integers(-(2**130), 2**130).map(str),
    st.integers(0, 999).map(lambda i: f"00{i}"),  # leading zeros
    st.integers(0, 999).map(lambda i: f"+{i}"),
    st.just("-0"),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str),
    st.sampled_from(["1e400", "-1e400", "1e-400", "9007199254740993", "0.1000000000000000055511", "2.5"]),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "inf", "1.", ".5", "1_000"]),
)
DAYS = st.dates(date(1, 1, 1), date(9999, 12, 31))
TIMES = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30))
ZONES = st.sampled_from(["", "Z", "+01:00", "-05:30", "+0200", "+03"])
TEMPORAL = st.one_of(
    DAYS.map(date.isoformat),
    st.builds(lambda t, sep, z: t.isoformat(sep) + z, TIMES, st.sampled_from(["T", " "]), ZONES),
    st.builds(lambda t, z: t.replace(microsecond=0).isoformat() + ".123456789" + z, TIMES, ZONES),
    st.builds(lambda t: t.isoformat(" ")[:16], TIMES),
    st.sampled_from(["2026-02-30", "2026-03-10T05:05:00 Europe/Paris", "20260310"]),
)
TEXTS = st.one_of(
    INTEGERS,
    NUMBERS,
    TEMPORAL,
    st.sampled_from(["true", "False", "t", "yes", "x", "Nan"]),
    st.text(max_size=5),
)


def _column(values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    """Values of one column: mostly of one kind, sometimes mixed."""
    return st.one_of(st.lists(values, min_size=1, max_size=8), st.lists(TEXTS, min_size=1, max_size=8))


COLUMNS = st.one_of(_column(INTEGERS), _column(NUMBERS), _column(TEMPORAL), _column(TEXTS))


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip().replace("_", "x"))
    except ArithmeticError:
        return None


def _instant(text: str) -> datetime | None:
    """The moment ``text`` names: ISO 8601, or ISO 8601 followed by a zone name
    (``2026-03-10T05:05:00 Europe/Paris``, which a TIMESTAMPTZ cast reads through ICU)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    stamp, _, zone = text.rpartition(" ")
    try:
        return datetime.fromisoformat(stamp).replace(tzinfo=ZoneInfo(zone))
    except (ValueError, KeyError, ZoneInfoNotFoundError):
        return None


def reproduces(text: str, value: Any, typ: str) -> bool:
    """Whether ``value`` (stored as ``typ``) is what ``text`` says, computed in Python."""
    if typ == "VARCHAR":
        return bool(value == text)
    if typ in ("BIGINT", "HUGEINT"):
        return _number(text) == Decimal(int(value))
    if typ == "DOUBLE":
        if math.isnan(value):
            return text.strip().lower().lstrip("+-") == "nan"
        if math.isinf(value):
            return text.strip().lower().lstrip("+-") in ("inf", "infinity")
        return _number(text) == Decimal(repr(value))
    if typ == "BOOLEAN":  # (a cast also reads t/f, yes/no, y/n, 1/0)
        truth = {"true": True, "t": True, "yes": True, "y": True, "1": True}
        return (
            text.lower() in {*truth, "false", "f", "no", "n", "0"} and truth.get(text.lower(), False) == value
        )
    parsed = _instant(text)
    if typ == "DATE":  # a date, or a timestamp at midnight (without a zone), as documented
        midnight = datetime(value.year, value.month, value.day)
        return text == value.isoformat() or (
            parsed is not None and parsed.tzinfo is None and parsed == midnight
        )
    if typ == "TIMESTAMP":
        return parsed is not None and parsed.tzinfo is None and parsed == value
    assert typ == "TIMESTAMP WITH TIME ZONE", typ
    if parsed is not None and parsed.tzinfo is None:  # (a cast only): in the local time zone
        parsed = parsed.astimezone()
    return parsed is not None and parsed == value


def _stored(
    con: duckdb.DuckDBPyConnection, chunk: FileChunk
) -> tuple[dict[str, str], dict[int, Any], set[int]]:
    decoded = decode(con, chunk, {}, evolve=True, lazy=False)
    rows = con.sql(f"SELECT {LINE_COLUMN}, v FROM {decoded.table}").fetchall()
    rejected = set(decoded.rejected[LINE_COLUMN].to_pylist())
    return decoded.columns, dict(rows), rejected


def _check(
    columns: dict[str, str], stored: dict[int, Any], rejected: set[int], texts: dict[int, str]
) -> None:
    typ = columns["v"]
    for line, text in texts.items():
        if line in rejected:
            continue
        assert line in stored, line
        value = stored[line]
        assert value is not None, (text, typ)
        assert reproduces(text, value, typ), (text, value, typ)


@settings(max_examples=300, deadline=None)
@given(COLUMNS)
def test_a_csv_column_is_inferred_only_as_a_type_that_keeps_every_value(values: list[str]) -> None:
    values = [v for v in values if v and not set(v) & set('",\r\n') and v.strip() == v] or ["x"]
    body = ("\n".join(values) + "\n").encode()
    table, rejected = split_csv(body, 2, ["v"], ",", LINE_COLUMN, RAW_COLUMN)
    chunk = FileChunk(
        "t.csv", "CSV", table, FilePosition(0, 2), FilePosition(len(body), 2), len(body), rejected
    )
    con = duckdb.connect()
    columns, stored, bad = _stored(con, chunk)
    assert not bad, "inferred from every value: nothing is rejected"
    _check(columns, stored, bad, {2 + i: v for i, v in enumerate(values)})


JSON_VALUES = st.one_of(
    INTEGERS.filter(lambda t: t.lstrip("-") == str(abs(int(t))) and t != "-0"),  # JSON numbers
    # (not 1e-400: DuckDB's JSON reader reads a number below the smallest double as 0.0, a
    # limit documented in docs/sql-reference.md)
    NUMBERS.filter(
        lambda t: (
            _number(t) is not None and not t.startswith((".", "+")) and not t.endswith(".") and t != "1e-400"
        )
    ),
    TEMPORAL.map(json.dumps),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "true", "false", '"x"', "null"]),
)


def _fraction(text: str) -> bool:
    return _number(text) is not None and any(c in text for c in ".eE") and not text.startswith('"')


@settings(max_examples=300, deadline=None)
@given(st.lists(JSON_VALUES, min_size=1, max_size=8), st.lists(JSON_VALUES, min_size=1, max_size=8))
def test_json_values_are_stored_as_they_are_or_rejected(first: list[str], later: list[str]) -> None:
    """``first`` plans the column (as a new table), ``later`` meets it (as the table's type)."""
    con = duckdb.connect()
    texts: dict[int, str] = {}
    columns: dict[str, str] = {}
    for lines, table_types in ((first, {}), (later, None)):
        raw = [f'{{"v": {v}}}' for v in lines]
        numbers = list(range(len(texts) + 1, len(texts) + 1 + len(raw)))
        table = pa.table(
            {LINE_COLUMN: pa.array(numbers, pa.int64()), RAW_COLUMN: pa.array(raw, pa.large_string())}
        )
        chunk = FileChunk("t.jsonl", "JSON", table, FilePosition(0, 1), FilePosition(1, 1), 1)
        decoded = decode(
            con, chunk, columns if table_types is None else table_types, evolve=False, lazy=False
        )
        columns = columns or decoded.columns
        stored = dict(con.sql(f"SELECT {LINE_COLUMN}, v FROM {decoded.table}").fetchall())
        rejected = set(decoded.rejected[LINE_COLUMN].to_pylist())
        for line, text in zip(numbers, lines, strict=True):
            if line in rejected or text == "null":
                continue
            plain = json.loads(text) if text.startswith('"') else text
            typ = columns["v"] if table_types is None else decoded.columns["v"]
            value = stored[line]
            if _fraction(text):  # JSON's number: the nearest double (finite), as JSON readers do
                assert value is not None and float(value) == float(text), (text, value, typ)
            elif typ == "VARCHAR":  # JSON text of a value of another kind
                assert value == plain, (text, value)
            else:
                assert reproduces(plain, value, typ), (text, value, typ)
        texts.update(zip(numbers, lines, strict=True))


NESTED_VALUES = st.one_of(
    JSON_VALUES.map(lambda v: (v, f'{{"f": {v}}}')),  # an object: its field is checked like a column
    JSON_VALUES.map(lambda v: (v, f'{{"f": {v}, "g": "x"}}')),
    st.sampled_from(
        ["5", '"x"', "[1]", '[{"f": 1}]', "{}", '{"F": 1}', '{"f": {"a": 1}}', '{"f": [1]}', '{"f": 1']
    ).map(lambda v: (None, v)),
)


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=lambda c: c)
    except json.JSONDecodeError:
        return ValueError


@settings(max_examples=300, deadline=None)
@given(st.lists(NESTED_VALUES, min_size=1, max_size=8), st.lists(NESTED_VALUES, min_size=1, max_size=8))
def test_fields_of_nested_objects_are_stored_as_they_are_or_rejected(
    first: list[tuple[str | None, str]], later: list[tuple[str | None, str]]
) -> None:
    """The same for the field ``f`` of an object (a STRUCT column): ``first`` plans the column,
    ``later`` meets it as the table's type. A value that is not an object is never stored as
    an object of NULLs, and a field in another case is never lost (fields the type does not
    have are left out: ``evolve=False``)."""
    con = duckdb.connect()
    columns: dict[str, str] = {}
    for values, table_types in ((first, {}), (later, None)):
        raw = [f'{{"id": 1, "v": {v}}}' for _, v in values]
        table = pa.table(
            {LINE_COLUMN: pa.array(range(len(raw)), pa.int64()), RAW_COLUMN: pa.array(raw, pa.large_string())}
        )
        chunk = FileChunk("t.jsonl", "JSON", table, FilePosition(0, 1), FilePosition(1, 1), 1)
        try:
            decoded = decode(
                con, chunk, columns if table_types is None else table_types, evolve=False, lazy=False
            )
        except NoColumns:  # (only malformed lines: nothing to plan from)
            assert all(_loads(text) is ValueError for _, text in values)
            continue
        columns = columns or decoded.columns
        typ = decoded.columns.get("v", "VARCHAR")
        stored = dict(
            con.sql(
                f"SELECT {LINE_COLUMN}, {'v' if 'v' in decoded.columns else 'NULL'} FROM {decoded.table}"
            ).fetchall()
        )
        rejected = set(decoded.rejected[LINE_COLUMN].to_pylist())
        assert set(stored) | rejected == set(range(len(raw)))
        if not typ.startswith("STRUCT(") or typ.endswith("]"):
            continue
        for line, (leaf, text) in enumerate(values):
            if line in rejected:
                continue
            given_value, value = _loads(text), stored[line]
            if given_value is ValueError:  # (DuckDB's reader also takes nan, inf: as the top-level test)
                continue
            if given_value is None:
                assert value is None
                continue
            assert isinstance(given_value, dict), (text, value, typ)  # never an object of NULLs
            assert value is not None, (text, typ)
            fields = {k.lower() for k in value}
            assert all(k in value for k in given_value if k.lower() in fields), (text, value)  # none lost
            got = value.get("f")
            if leaf is None or leaf == "null":
                continue
            plain = json.loads(leaf) if leaf.startswith('"') else leaf
            if _fraction(leaf):  # JSON's number: the nearest double (finite), as JSON readers do
                assert got is not None and float(got) == float(leaf), (text, got, typ)
            elif isinstance(got, str):
                assert got == plain, (text, got)
            else:
                ftype = typ.split("f ", 1)[1].split(",")[0].rstrip(")")
                ftype = "TIMESTAMP WITH TIME ZONE" if ftype == "TIMESTAMP WITH TIME ZONE" else ftype
                assert got is not None and reproduces(plain, got, ftype), (text, got, ftype)


def test_a_zone_name_does_not_shift_the_timestamps_after_it() -> None:
    """DuckDB 1.5 reads a text without a zone in the zone another text of the same vector
    named, unless the cast is split (``exact.try_cast``)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    raw = [
        '{"v": "2026-03-10T05:05:00 Europe/Paris"}',
        '{"v": "2000-01-01 00:00"}',
        '{"v": "2000-06-01 12:00"}',
    ]
    table = pa.table(
        {LINE_COLUMN: pa.array([1, 2, 3], pa.int64()), RAW_COLUMN: pa.array(raw, pa.large_string())}
    )
    chunk = FileChunk("t.jsonl", "JSON", table, FilePosition(0, 1), FilePosition(1, 1), 1)
    decoded = decode(con, chunk, {"v": "TIMESTAMP WITH TIME ZONE"}, evolve=False, lazy=False)
    stored = dict(con.sql(f"SELECT {LINE_COLUMN}, v FROM {decoded.table}").fetchall())
    utc = ZoneInfo("UTC")
    assert stored[1] == datetime(2026, 3, 10, 4, 5, tzinfo=utc)
    assert stored[2] == datetime(2000, 1, 1, 0, 0, tzinfo=utc)  # (session time zone: UTC)
    assert stored[3] == datetime(2000, 6, 1, 12, 0, tzinfo=utc)
