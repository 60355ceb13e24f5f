from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from headwater.sources.errors import SourceError
from headwater.sources.files import LINE_COLUMN, RAW_COLUMN, FilePosition, FilesSource


def source(root: Path, pattern: str = "**/*", max_bytes: int = 1 << 20) -> FilesSource:
    return FilesSource(root, "in", pattern, "AUTO", max_bytes)


def test_chunks_respect_max_bytes_and_positions_chain(tmp_path: Path) -> None:
    lines = [f'{{"i": {i}}}\n' for i in range(1000)]
    (tmp_path / "a.jsonl").write_text("".join(lines))
    chunks = list(source(tmp_path, max_bytes=1000).poll({}, drain=True))
    assert len(chunks) > 5
    assert chunks[0].start == FilePosition(0, 1)
    for a, b in itertools.pairwise(chunks):
        assert a.end == b.start
    assert chunks[-1].end == FilePosition(sum(len(x) for x in lines), 1001)
    raw = [r for c in chunks for r in c.table.column(RAW_COLUMN).to_pylist()]
    assert [r.strip() for r in raw] == [x.strip() for x in lines]
    numbers = [n for c in chunks for n in c.table.column(LINE_COLUMN).to_pylist()]
    assert numbers == list(range(1, 1001))


def test_resume_from_position_and_skip_unknown_extensions(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"i": 1}\n{"i": 2}\n')
    (tmp_path / "README.md").write_text("not data\n")
    (tmp_path / ".hidden.jsonl").write_text('{"i": 9}\n')
    chunks = list(source(tmp_path).poll({"in/a.jsonl": FilePosition(9, 2)}, drain=True))
    assert [c.partition for c in chunks] == ["in/a.jsonl"]
    assert chunks[0].table.column(RAW_COLUMN).to_pylist() == ['{"i": 2}\n']
    assert chunks[0].table.column(LINE_COLUMN).to_pylist() == [2]


def test_an_incomplete_tail_waits_unless_draining(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"i": 1}\n{"i": 2')
    live = list(source(tmp_path).poll({}, drain=False))
    assert [c.table.num_rows for c in live] == [1]
    drained = list(source(tmp_path).poll({}, drain=True))
    assert [c.table.num_rows for c in drained] == [2]


def test_a_file_that_shrank_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"i": 1}\n')
    with pytest.raises(SourceError, match="shrank"):
        list(source(tmp_path).poll({"in/a.jsonl": FilePosition(100, 5)}, drain=True))


def test_csv_header_is_kept_across_chunks(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(100)))
    chunks = list(source(tmp_path, max_bytes=200).poll({}, drain=True))
    assert len(chunks) > 1
    assert all(c.table.column_names[:2] == ["a", "b"] for c in chunks)
    assert sum(c.table.num_rows for c in chunks) == 100
    assert chunks[0].table.column(LINE_COLUMN).to_pylist()[0] == 2


def test_a_large_file_is_read_a_read_at_a_time_and_a_long_line_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks are at most READ_BYTES (whole lines), however large batch_bytes is; a line longer
    than a read but within batch_bytes is read whole, not cut nor quarantined."""
    import headwater.sources.files as files

    monkeypatch.setattr(files, "READ_BYTES", 100)
    long = '{"t": "' + "x" * 250 + '"}\n'
    lines = [f'{{"i": {i}}}\n' for i in range(40)] + [long] + [f'{{"i": {i}}}\n' for i in range(40, 80)]
    (tmp_path / "a.jsonl").write_text("".join(lines))
    chunks = list(source(tmp_path, max_bytes=10_000).poll({}, drain=True))
    assert all(c.nbytes <= 100 for c in chunks if long not in c.table.column(RAW_COLUMN).to_pylist())
    assert max(c.nbytes for c in chunks) >= len(long)
    raw = [r for c in chunks for r in c.table.column(RAW_COLUMN).to_pylist()]
    assert raw == lines
    assert all(c.rejected is None for c in chunks)
    for a, b in itertools.pairwise(chunks):
        assert a.end == b.start
    assert chunks[-1].end == FilePosition(sum(len(x) for x in lines), len(lines) + 1)
