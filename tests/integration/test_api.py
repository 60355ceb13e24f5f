"""The Python API of SPEC §8: Project, from_sql, run, query(...).arrow()/.df()/.pl()/.fetchall(), status."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

import headwater as hw


def test_python_api(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.jsonl").write_text("".join(json.dumps({"id": i, "v": i * 1.5}) + "\n" for i in range(5)))
    project = hw.Project.from_sql(
        f"""CREATE FILES CONNECTION landing PATH = '{landing}';
        CREATE JOB load AS COPY FROM landing INTO bronze.t;""",
        tmp_path / "project",
    )
    assert (tmp_path / "project" / "project.sql").exists()
    result = project.run(once=True)
    assert result.ok and result.rows_written == 5
    query = project.query("SELECT id, v, $source FROM bronze.t ORDER BY id")
    table = query.arrow()
    assert isinstance(table, pa.Table) and table.column("id").to_pylist() == [0, 1, 2, 3, 4]
    df = query.df()
    assert list(df.columns) == ["id", "v", "$source"] and df["v"].sum() == pytest.approx(15.0)
    pl_frame = query.pl()
    assert pl_frame.shape == (5, 3) and pl_frame["$source"][0].endswith("a.jsonl:1")
    assert query.fetchall()[4] == (4, 6.0, f"file:{landing}/a.jsonl:5")
    status = project.status()
    assert [(s["name"], s["kind"], s["rows_written"]) for s in status] == [("load", "ingest", 5)]


def test_from_sql_without_a_folder_and_errors() -> None:
    project = hw.Project.from_sql("SELECT 1 AS one;")
    assert project.path.is_dir()
    assert project.query("SELECT 41 + 1 AS answer").fetchall() == [(42,)]
    with pytest.raises(hw.UserError, match=r"project\.sql:1:1"):
        hw.Project.from_sql("CREATE JOB j AS COPY FROM nowhere INTO bronze.x;").validate()
    with pytest.raises(hw.UserError):
        hw.Project("/definitely/not/here")


def test_from_sql_cleans_up_its_temporary_folder() -> None:
    import gc

    with hw.Project.from_sql("SELECT 1;") as project:
        assert project.query("SELECT 41 + 1").fetchall() == [(42,)]
        folder = project.path
        assert (folder / ".headwater").is_dir()
    assert not folder.exists()
    dropped = hw.Project.from_sql("SELECT 1;")
    folder = dropped.path
    del dropped
    gc.collect()
    assert not folder.exists()


def test_status_is_not_failed_after_a_clean_pass(tmp_path: Path) -> None:
    project = hw.Project.from_sql(
        "CREATE FILES CONNECTION landing PATH = 'landing';\n"
        "CREATE JOB load AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.t;\n",
        tmp_path,
    )
    assert not project.run(once=True).ok  # the folder is missing
    assert [(r["status"], r["error"] is not None) for r in project.status()] == [("failed", True)]
    (tmp_path / "landing").mkdir()
    assert project.run(once=True).ok  # nothing to read, but nothing wrong either
    assert [(r["status"], r["error"]) for r in project.status()] == [("idle", None)]
