"""Type inference of text columns (CSV): the candidates tried on a probe first, then over the
whole sample, choose what trying every candidate over the whole sample chooses."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.lake import quote
from headwater.sources import typing as typing_
from headwater.sources.exact import canonical, special

TEXTS = st.sampled_from(
    [
        "",
        "0",
        "42",
        "-7",
        "99999999999999999999",
        "1.5",
        "2.25e3",
        "NaN",
        "Infinity",
        "-Infinity",
        "true",
        "false",
        "2026-01-02",
        "2026-01-02T03:04:05",
        "2026-01-02T03:04:05Z",
        "2026-01-02 03:04:05+02:00",
        "word",
        "007",
    ]
)


def reference(con: duckdb.DuckDBPyConnection, view: str, names: list[str], sample: int) -> dict[str, str]:
    """Every candidate over the whole sample, in one aggregate."""
    out = {}
    for name in names:
        v = f"NULLIF({quote(name)}, '')"
        cands = typing_._CANDIDATES
        parts = [f"count({v})", *(f"count(*) FILTER (WHERE {canonical(v, t)})" for t in cands)]
        parts.append(f"count(*) FILTER (WHERE {special(v)})")
        row = con.sql(f"SELECT {', '.join(parts)} FROM (FROM {view} LIMIT {sample})").fetchone()
        assert row is not None
        n, *counts, specials = row
        out[name] = "VARCHAR"
        if n:
            for typ, c in zip(cands, counts, strict=True):
                if c == n or (typ == "DOUBLE" and c and c + specials == n):
                    out[name] = typ
                    break
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(TEXTS, min_size=1, max_size=12), min_size=1, max_size=3), st.integers(1, 12))
def test_the_probe_never_changes_the_choice(columns: list[list[str]], sample: int) -> None:
    rows = max(map(len, columns))
    table = pa.table({f"c{i}": pa.array((col * rows)[:rows], pa.string()) for i, col in enumerate(columns)})
    con = duckdb.connect()
    con.register("t", table)
    names = list(table.column_names)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(typing_, "_PROBE", 2)  # (a probe shorter than the sample)
        got = typing_.infer_text_types(con, "t", names, sample=sample)
    assert got == reference(con, "t", names, sample)


def test_a_column_empty_in_the_probe_is_typed_from_the_rest() -> None:
    texts = [""] * 5 + ["12", "13"]
    con = duckdb.connect()
    con.register("t", pa.table({"a": pa.array(texts, pa.string()), "b": pa.array(["NaN"] * 5 + ["1.5"] * 2)}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(typing_, "_PROBE", 3)
        assert typing_.infer_text_types(con, "t", ["a", "b"], sample=100) == {"a": "BIGINT", "b": "DOUBLE"}
