"""``headwater query`` prints rows read without pyarrow (``headwater.lake.rows``): each value
must be the one the Arrow table gives (``Project.query``'s ``Result``), of the same class."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.lake.rows import arrow_rows, relation_rows

# (a SQL expression of each type DuckDB has, and values at its edges)
EXPRESSIONS = [
    "true",
    "1::TINYINT",
    "(-32768)::SMALLINT",
    "2147483647",
    "(-9223372036854775808)::BIGINT",
    "255::UTINYINT",
    "65535::USMALLINT",
    "4294967295::UINTEGER",
    "18446744073709551615::UBIGINT",
    "170141183460469231731687303715884105727::HUGEINT",
    "(-170141183460469231731687303715884105728)::HUGEINT",
    "1::UHUGEINT",
    "1.5::FLOAT",
    "'NaN'::DOUBLE",
    "'-inf'::DOUBLE",
    "-0.0::DOUBLE",
    "1.23::DECIMAL(4,2)",
    "-0.000001::DECIMAL(18,6)",
    "12345678901234567890.123456789012345678::DECIMAL(38,18)",
    "'text ü'",
    "''",
    "'\\xAA\\x00'::BLOB",
    "DATE '2024-02-29'",
    "DATE '0001-01-01'",
    "DATE '9999-12-31'",
    "TIME '23:59:59.999999'",
    "TIME '00:00:00'",
    "TIMESTAMP '2024-01-02 03:04:05.123456'",
    "TIMESTAMP '1970-01-01 00:00:00'",
    "TIMESTAMP '9999-12-31 23:59:59.999999'",
    "TIMESTAMP_S '2024-01-02 03:04:05'",
    "TIMESTAMP_MS '2024-01-02 03:04:05.123'",
    "TIMESTAMP_NS '2024-01-02 03:04:05.123456789'",
    "TIMESTAMPTZ '2024-01-02 03:04:05+02'",
    "TIMESTAMPTZ '1900-01-01 00:00:00+00'",
    "'01:02:03+02'::TIMETZ",
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::UUID",
    "[1, 2, NULL]",
    "[1, 2]::INTEGER[2]",
    "{'a': 1, 'b': [TIMESTAMP '2024-01-01']}",
    "MAP {'k': 1}",
    "'a'::ENUM('a', 'b')",
    "'{\"a\": 1}'::JSON",
    "'101'::BIT",
    "union_value(n := 1)",
    "NULL",
    "NULL::DATE",
]
# Arrow cannot give these in Python (it raises) or gives another value: printed as DuckDB
# writes them
AS_TEXT = {
    "'infinity'::DATE": "infinity",
    "'-infinity'::DATE": "-infinity",
    "'infinity'::TIMESTAMP": "infinity",
    "'-infinity'::TIMESTAMP_MS": "-infinity",
    "'infinity'::TIMESTAMPTZ": "infinity",
    "'5877642-06-25 (BC)'::DATE": "5877642-06-25 (BC)",
    "TIMESTAMP '294247-01-10 04:00:54'": "294247-01-10 04:00:54",
    "TIME '24:00:00'": "24:00:00",  # (Arrow: 00:00:00)
}


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        yield connection


def typed(rows: list[tuple[Any, ...]]) -> list[list[tuple[type, str]]]:
    """Each value's class and repr (which shows a datetime's tzinfo; NaN is not equal to itself)."""
    return [[(type(v), repr(v)) for v in row] for row in rows]


def mine(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    def zone() -> str:
        return str(con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0])

    return relation_rows(con.sql(sql), zone)


def same(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """The same names and values, or the same error where Arrow cannot give a value."""
    try:
        columns, rows = arrow_rows(con.sql(sql).to_arrow_table())
    except (OverflowError, ValueError) as e:
        with pytest.raises(type(e)):
            mine(con, sql)
        return
    my_columns, my_rows = mine(con, sql)
    assert my_columns == columns
    assert typed(my_rows) == typed(rows)


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_each_type_reads_as_arrow_gives_it(con: duckdb.DuckDBPyConnection, expression: str) -> None:
    same(con, f"SELECT {expression} AS v, {expression} AS w, 1 AS n UNION ALL SELECT NULL, {expression}, 2")


@pytest.mark.parametrize("expression", sorted(AS_TEXT))
def test_a_value_arrow_cannot_give_is_duckdbs_text(con: duckdb.DuckDBPyConnection, expression: str) -> None:
    columns, rows = mine(con, f"SELECT {expression} AS v, 7 AS n, DATE '2024-01-02' AS d")
    assert columns == ["v", "n", "d"]
    assert rows == [(AS_TEXT[expression], 7, "2024-01-02")]


def test_intervals_are_duckdbs_text(con: duckdb.DuckDBPyConnection) -> None:
    assert mine(con, "SELECT INTERVAL 90 MINUTE AS i, INTERVAL '1 month 2 days' AS m, 3 AS n") == (
        ["i", "m", "n"],
        [("01:30:00", "1 month 2 days", 3)],
    )


def test_uhugeint_past_2_127_is_exact(con: duckdb.DuckDBPyConnection) -> None:
    top = 2**128 - 1
    arrow = arrow_rows(con.sql(f"SELECT {top}::UHUGEINT AS u").to_arrow_table())[1]
    assert arrow == [(Decimal(-1),)]  # (what the Arrow table says: wrapped)
    assert mine(con, f"SELECT {top}::UHUGEINT AS u, 1::UHUGEINT AS o") == (
        ["u", "o"],
        [(Decimal(top), Decimal(1))],
    )


@pytest.mark.parametrize(
    "zone", ["Etc/UTC", "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "EST5EDT"]
)
@pytest.mark.parametrize(
    "value",
    [
        "2024-03-31 01:30:00+00",  # (around summer time's start and end)
        "2024-10-27 00:30:00+00",
        "2024-11-03 06:30:00.5+00",
        "1900-01-01 00:00:00+00",  # (Arrow's zoneinfo: standard time; fetchall(): local mean time)
        "1850-06-01 12:00:00+00",
        "0001-01-02 00:00:00+00",
        "9999-12-30 00:00:00+00",
    ],
)
def test_times_with_a_zone_read_as_arrow_gives_them(zone: str, value: str) -> None:
    with duckdb.connect() as con:
        con.execute(f"SET TimeZone = '{zone}'")
        same(con, f"SELECT TIMESTAMPTZ '{value}' AS t, [TIMESTAMPTZ '{value}'] AS l, 1 AS n")
        same(con, f"SELECT TIMESTAMPTZ '{value}' AS t, 1 AS n")


def test_repeated_column_names_and_no_rows(con: duckdb.DuckDBPyConnection) -> None:
    same(con, "SELECT 1 AS a, 2 AS a, 'x' AS b")
    same(con, "SELECT 1 AS a, DATE '2020-01-01' AS d WHERE false")


@settings(max_examples=150, deadline=None)
@given(
    days=st.integers(min_value=-719_162, max_value=2_932_896),
    micros=st.integers(min_value=0, max_value=86_400_000_000 - 1),
    number=st.decimals(min_value=Decimal("-1e17"), max_value=Decimal("1e17"), places=4, allow_nan=False),
    big=st.integers(min_value=-(2**127), max_value=2**127 - 1),
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
    ),
    zone=st.sampled_from(["Etc/UTC", "Europe/Berlin", "America/Sao_Paulo", "Australia/Lord_Howe"]),
)
def test_values_read_as_arrow_gives_them(
    days: int, micros: int, number: Decimal, big: int, text: str, zone: str
) -> None:
    when = datetime(1970, 1, 1) + timedelta(days=days, microseconds=micros)
    day = date(1970, 1, 1) + timedelta(days=days)
    quoted = text.replace("'", "''")
    with duckdb.connect() as con:
        con.execute(f"SET TimeZone = '{zone}'")
        same(
            con,
            f"SELECT TIMESTAMP '{when.isoformat(sep=' ')}' AS t, DATE '{day.isoformat()}' AS d, "
            f"TIMESTAMPTZ '{when.isoformat(sep=' ')}+00' AS z, "
            f"({number})::DECIMAL(22,4) AS n, ({big})::HUGEINT AS h, '{quoted}' AS s",
        )
