"""``exact_float``: the digits of a number's text are compared (regular expressions) only when
the short test does not settle it, with the same answer as testing both for every row."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.sources.exact import _SPECIAL, exact_float, significant

TEXTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str),
    st.integers(-(2**80), 2**80).map(str),
    st.sampled_from(["0.0", "1e400", "1e-400", "9007199254740993", "0.1000000000000000055511", "-0", "x"]),
)


def _both_sides(text: str, value: str) -> str:
    """The same test with an OR, which DuckDB computes on both sides for every row."""
    return (
        f"(isfinite({value}) AND ((length({text}) <= 15 AND abs({value}) >= 2.2250738585072014e-308) "
        f"OR {significant(text)} = {significant(f'CAST({value} AS VARCHAR)')}) "
        f"OR (NOT isfinite({value}) AND lower(trim({text})) IN {_SPECIAL}))"
    )


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(TEXTS, min_size=1, max_size=20))
def test_exact_float_answers_as_the_test_of_both_sides(texts: list[str]) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(texts)))
    value = "TRY_CAST(v AS DOUBLE)"
    rows = con.sql(f"SELECT {exact_float('v', value, 'DOUBLE')}, {_both_sides('v', value)} FROM t").fetchall()
    assert [bool(a) for a, _ in rows] == [bool(b) for _, b in rows], texts


def test_the_digits_are_compared_only_when_the_short_test_fails() -> None:
    sql = exact_float("v", "TRY_CAST(v AS DOUBLE)", "DOUBLE")
    assert sql.index("CASE WHEN length(v) <= 15") < sql.index(" ELSE ") < sql.index("regexp_replace")
