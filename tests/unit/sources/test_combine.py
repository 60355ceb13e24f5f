"""Small JSON chunks are read together: one table, each line keeping its file in $source, each
file its own position."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.sources.files import (
    FILE_BITS,
    LINE_COLUMN,
    RAW_COLUMN,
    FilePosition,
    FilesSource,
    Sources,
    combine,
)


def test_small_files_are_combined_within_the_limits(tmp_path: Path) -> None:
    for i in range(7):
        (tmp_path / f"f{i}.jsonl").write_text("".join(f'{{"f": {i}, "n": {n}}}\n' for n in range(3)))
    (tmp_path / "g.csv").write_text("a\n1\n")
    (tmp_path / "h.jsonl").write_text('{"big": "' + "x" * 500 + '"}\n')
    chunks = list(combine(FilesSource(tmp_path, "in", "*", "AUTO", 1 << 20).poll({}, drain=True), 400, 3))
    # f0-f2, f3-f5 (3 files at most), f6 alone, g.csv (not JSON), h.jsonl (over the limit)
    assert [
        [p.removeprefix("in/") for p, _ in c.parts] or [c.partition.removeprefix("in/")] for c in chunks
    ] == [
        ["f0.jsonl", "f1.jsonl", "f2.jsonl"],
        ["f3.jsonl", "f4.jsonl", "f5.jsonl"],
        ["f6.jsonl"],
        ["g.csv"],
        ["h.jsonl"],
    ]
    first = chunks[0]
    sources = first.sources
    texts = sources.arrow(first.table[LINE_COLUMN]).to_pylist()
    assert texts == [f"file:in/f{i}.jsonl:{n}" for i in range(3) for n in (1, 2, 3)]
    assert [r.strip() for r in first.table[RAW_COLUMN].to_pylist()][3] == '{"f": 1, "n": 0}'
    assert first.positions() == [(f"in/f{i}.jsonl", FilePosition(51, 4)) for i in range(3)]
    assert chunks[2].sources.prefixes == ("file:in/f6.jsonl:",)
    assert chunks[2].positions() == [("in/f6.jsonl", FilePosition(51, 4))]


@settings(max_examples=50, deadline=None)
@given(
    prefixes=st.lists(
        st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=8).map(
            lambda t: f"file:{t}:"
        ),
        min_size=1,
        max_size=4,
    ),
    picks=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 10**9)), min_size=1, max_size=20),
)
def test_sources_sql_arrow_and_text_agree(prefixes: list[str], picks: list[tuple[int, int]]) -> None:
    sources = Sources(tuple(prefixes))
    # (a name that is not valid text, such as a file name's bytes as surrogates, is shown escaped)
    prefixes = [
        p.encode("utf-8", "surrogateescape" if p == _escapable(p) else "backslashreplace").decode(
            "utf-8", "backslashreplace"
        )
        for p in prefixes
    ]
    assert list(sources.prefixes) == prefixes
    if sources.several:
        lines = [(i % len(prefixes)) << FILE_BITS | n for i, n in picks]
        expected = [f"{prefixes[i % len(prefixes)]}{n}" for i, n in picks]
    else:
        lines = [n for _, n in picks]
        expected = [f"{prefixes[0]}{n}" for n in lines]
    assert [sources.text(x) for x in lines] == expected
    assert sources.arrow(pa.array(lines, pa.int64())).to_pylist() == expected
    con = duckdb.connect()
    con.register("t", pa.table({"line": pa.array(lines, pa.int64()), "i": pa.array(range(len(lines)))}))
    assert [r[0] for r in con.sql(f"SELECT {sources.sql('line')} FROM t ORDER BY i").fetchall()] == expected


def _escapable(text: str) -> str:
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return ""
    return text


def test_a_file_name_that_is_not_utf8_is_shown_with_escapes() -> None:
    name = b"in/caf\xe9.jsonl".decode("utf-8", "surrogateescape")  # as os.listdir gives it
    sources = Sources((f"file:{name}:",))
    assert sources.text(3) == "file:in/caf\\xe9.jsonl:3"
    assert sources.arrow(pa.array([3], pa.int64())).to_pylist() == ["file:in/caf\\xe9.jsonl:3"]
