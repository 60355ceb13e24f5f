"""A dependency cycle in a project names the file and line of each job in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater import Project
from headwater.plan import CycleError

WINDOW = "WHERE $commit_time BETWEEN run_start_time() AND run_end_time();\n"


def test_cycle_error_has_file_line_of_each_job(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text(f"\n\nCREATE JOB a AS INSERT INTO s.a SELECT * FROM s.b {WINDOW}")
    (tmp_path / "b.sql").write_text(f"CREATE JOB b AS INSERT INTO s.b SELECT * FROM s.a {WINDOW}")
    with pytest.raises(CycleError) as info:
        Project(tmp_path).validate()
    assert info.value.cycle == ["a", "b", "a"]
    assert info.value.message == "a.sql:3:1: dependency cycle: a (a.sql:3:1) -> b (b.sql:1:1) -> a"
