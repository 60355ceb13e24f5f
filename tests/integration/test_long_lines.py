"""A line longer than [run] batch_bytes is quarantined (cut to a cap), and the job goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater import Project

SQL = """CREATE FILES CONNECTION landing PATH = 'landing';
CREATE JOB load AS COPY FROM landing PATTERN = '*' INTO bronze.t;"""


@pytest.mark.parametrize(
    ("name", "lines", "long_line"),
    [
        ("a.jsonl", ['{"a": 1}', '{"a": "' + "x" * 5000 + '"}', '{"a": 3}', '{"a": 4}'], 2),
        ("a.csv", ["a,b", "1,x", "2," + "y" * 5000, "3,z", "4,w"], 3),
    ],
)
@pytest.mark.parametrize("newline_at_end", [True, False])
def test_long_line_is_quarantined_and_the_job_continues(
    tmp_path: Path, name: str, lines: list[str], long_line: int, newline_at_end: bool
) -> None:
    (tmp_path / "landing").mkdir()
    (tmp_path / "headwater.toml").write_text("[run]\nbatch_bytes = 1024\n")
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    (tmp_path / "landing" / name).write_text(text)
    project = Project.from_sql(SQL, tmp_path)
    result = project.run(once=True)
    assert result.ok, result.failed_jobs
    assert project.query("SELECT count(*) FROM bronze.t").fetchall() == [(3,)]
    [record] = project.quarantine().rows()
    length = len(lines[long_line - 1])
    assert record["$source"] == f"file:landing/{name}:{long_line}"
    assert record["reason"] == (
        f"landing/{name}:{long_line}: a line of {length:,} bytes, longer than [run] batch_bytes (1,024); "
        f"the first 1,024 bytes are kept here, {length - 1024:,} bytes were truncated"
    )
    assert record["raw"] == lines[long_line - 1][:1024]
    [(read, written, quarantined)] = project.query(
        "SELECT sum(rows_read), sum(rows_written), sum(rows_quarantined) FROM system.runs"
    ).fetchall()
    assert (read, written, quarantined) == (4, 3, 1)
    # Nothing is read twice on the next run.
    assert project.run(once=True).ok
    assert project.query("SELECT count(*) FROM bronze.t").fetchall() == [(3,)]
