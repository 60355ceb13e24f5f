"""The dedupe key's text is ``to_json(list_value(CAST(k AS VARCHAR), ...))`` for every type and
value: stored keys stay comparable whichever way the text is built."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.quality.batch import key_text

TYPES = {
    "i": "BIGINT",
    "f": "DOUBLE",
    "d": "DECIMAL(12,3)",
    "b": "BOOLEAN",
    "dt": "DATE",
    "ts": "TIMESTAMPTZ",
    "s": "VARCHAR",
    "st": "STRUCT(a VARCHAR)",
    "l": "BIGINT[]",
}
VALUES = {
    "i": st.integers(-(2**63), 2**63 - 1),
    "f": st.floats(allow_nan=True, allow_infinity=True),
    "d": st.decimals(min_value=-(10**8), max_value=10**8, places=3, allow_nan=False),
    "b": st.booleans(),
    "dt": st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    "ts": st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    "s": st.text(),
    "st": st.fixed_dictionaries({"a": st.text()}),
    "l": st.lists(st.integers(-1000, 1000), max_size=3),
}
row = st.fixed_dictionaries({k: st.none() | v for k, v in VALUES.items()})


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(row, min_size=1, max_size=5),
    columns=st.lists(st.sampled_from(list(TYPES)), min_size=1, max_size=3),
)
def test_key_text_is_the_json_list_of_the_values_as_text(
    rows: list[dict[str, object]], columns: list[str]
) -> None:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t ({', '.join(f'{c} {t}' for c, t in TYPES.items())})")
    for r in rows:
        values = [Decimal(r["d"]) if r["d"] is not None else None, *(r[c] for c in TYPES if c != "d")]
        names = ["d", *(c for c in TYPES if c != "d")]
        con.execute(f"INSERT INTO t ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})", values)
    built = key_text(con, "t", columns)
    reference = f"to_json(list_value({', '.join(f'CAST({c} AS VARCHAR)' for c in columns)}))"
    pairs = con.sql(f"SELECT {built}, {reference} FROM t").fetchall()
    assert all(a == b for a, b in pairs), pairs
