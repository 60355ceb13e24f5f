"""A folder of many small files: read together (a chunk of several files), each record keeping
its own file and line, each file its own position; dedupe, quarantine and ABORT name the right
file."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import headwater as hw
from headwater.observe.events import BatchCommitted, CaptureConsole
from headwater.runner import ingest
from headwater.sources import files
from headwater.sources.files import FileChunk
from tests.conftest import write_jsonl

JOB = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE JOB j DEDUPLICATE_WITH = (COLUMNS = (id), WINDOW = 1 HOUR)
AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.t
WITH EXPECTATION known EXPECT kind <> 'bad' ON VIOLATION QUARANTINE
{abort};
"""


def _files(landing: Path, n: int) -> None:
    for f in range(n):
        write_jsonl(landing / f"f{f:02d}.jsonl", [{"id": f * 10 + i, "kind": "ok"} for i in range(3)])


def test_many_small_files_keep_their_sources_and_positions(
    make_project: Callable[..., hw.Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []  # files per chunk

    def recording(chunks: Iterable[FileChunk], limit: int) -> Iterator[FileChunk]:
        for chunk in files.combine(chunks, limit):
            read.append(len(chunk.parts) or 1)
            yield chunk

    monkeypatch.setattr(ingest, "combine", recording)
    project = make_project(JOB.format(abort=""))
    landing = project.path / "landing"
    _files(landing, 30)
    write_jsonl(landing / "f07.jsonl", [{"id": 1, "kind": "ok"}])  # f07:4 re-sends f00's id 1
    with open(landing / "f11.jsonl", "a") as f:
        f.write('{"id": 999, "kind": \n')  # f11:4 truncated
    write_jsonl(landing / "f20.jsonl", [{"id": 2000, "kind": "bad"}])  # f20:4 quarantined
    console = CaptureConsole()
    result = hw.Project(project.path, console=console).run(once=True)
    assert result.ok
    batches = [e for e in console.events if isinstance(e, BatchCommitted)]
    assert len(batches) == 1 and batches[0].files == 30
    assert read == [30]  # one chunk of all 30 files
    rows = project.query('SELECT id, "$source" FROM bronze.t ORDER BY id').fetchall()
    assert len(rows) == 90
    assert rows[1] == (1, "file:landing/f00.jsonl:2")
    assert (172, "file:landing/f17.jsonl:3") in rows
    assert project.query('SELECT "$source", reason FROM system.quarantine ORDER BY 1').fetchall() == [
        ("file:landing/f11.jsonl:4", "malformed JSON"),
        ("file:landing/f20.jsonl:4", "expectation known (QUARANTINE) failed"),
    ]
    run = project.query(
        "SELECT rows_read, rows_written, rows_deduplicated, rows_quarantined FROM system.runs"
    ).fetchall()
    assert run == [(93, 90, 1, 2)]
    offsets = dict(
        project.query(
            'SELECT "partition", line FROM system.offsets WHERE "partition" <> \'__start__\''
        ).fetchall()
    )
    assert len(offsets) == 30
    assert offsets["landing/f03.jsonl"] == 4 and offsets["landing/f07.jsonl"] == 5
    # nothing is read twice; a file that grows is read on from its own position
    write_jsonl(landing / "f05.jsonl", [{"id": 5000, "kind": "ok"}])
    assert project.run(once=True).ok
    assert project.query('SELECT "$source" FROM bronze.t WHERE id = 5000').fetchall() == [
        ("file:landing/f05.jsonl:4",)
    ]
    assert project.query("SELECT count(*) FROM bronze.t").fetchall() == [(91,)]


def test_abort_in_a_small_file_names_it(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(JOB.format(abort="WITH EXPECTATION small EXPECT id < 100 ON VIOLATION ABORT"))
    landing = project.path / "landing"
    _files(landing, 9)
    write_jsonl(landing / "f06.jsonl", [{"id": 600, "kind": "ok"}])
    result = project.run(once=True)
    assert "file:landing/f06.jsonl:4" in result.failed_jobs["j"]
    assert project.query(
        "SELECT count(*) FROM system.offsets WHERE \"partition\" <> '__start__'"
    ).fetchall() == [(0,)]


def test_small_csv_and_parquet_files_are_read_together(
    make_project: Callable[..., hw.Project], monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[tuple[str, int]] = []  # (format, files) per chunk

    def recording(chunks: Iterable[FileChunk], limit: int) -> Iterator[FileChunk]:
        for chunk in files.combine(chunks, limit):
            read.append((chunk.format, len(chunk.parts) or 1))
            yield chunk

    monkeypatch.setattr(ingest, "combine", recording)
    project = make_project(
        "CREATE FILES CONNECTION landing PATH = 'landing';\n"
        "CREATE JOB c AS COPY FROM landing PATTERN = 'csv/*.csv' INTO bronze.c;\n"
        "CREATE JOB p AS COPY FROM landing PATTERN = 'pq/*.parquet' INTO bronze.p;"
    )
    landing = project.path / "landing"
    (landing / "csv").mkdir()
    (landing / "pq").mkdir()
    for f in range(12):
        bad = '\n"unbalanced,1\n' if f == 4 else "\n"
        (landing / f"csv/f{f:02d}.csv").write_text(f"id,name\n{f * 10},a\n{f * 10 + 1},b{bad}")
        pq.write_table(
            pa.table({"id": [f * 10, f * 10 + 1], "v": [1.5, 2.5]}), landing / f"pq/f{f:02d}.parquet"
        )
    assert project.run(once=True).ok
    assert sorted(read) == [("CSV", 12), ("PARQUET", 12)]
    assert project.query('SELECT "$source" FROM bronze.c WHERE id = 71').fetchall() == [
        ("file:landing/csv/f07.csv:3",)
    ]
    assert project.query('SELECT "$source" FROM bronze.p WHERE id = 91').fetchall() == [
        ("file:landing/pq/f09.parquet:2",)
    ]
    assert project.query("SELECT count(*) FROM bronze.c").fetchall() == [(24,)]
    assert project.query("SELECT count(*) FROM bronze.p").fetchall() == [(24,)]
    assert project.query('SELECT "$source", reason FROM system.quarantine').fetchall() == [
        ("file:landing/csv/f04.csv:4", "unbalanced quotes")
    ]
    offsets = project.query(
        "SELECT job, count(*) FROM system.offsets WHERE \"partition\" <> '__start__' GROUP BY job ORDER BY job"
    ).fetchall()
    assert offsets == [("c", 12), ("p", 12)]
    # nothing is read again
    read.clear()
    assert project.run(once=True).ok
    assert project.query("SELECT count(*) FROM bronze.c").fetchall() == [(24,)]
