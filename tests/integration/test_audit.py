"""system.audit names who opened a sealed record, even without $USER in the environment."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from headwater import Project

PIPELINE = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE JOB load COLUMN_TRANSFORMATIONS = (email = HASH(email))
AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.people;
"""


def test_audit_actor_without_user_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "a.jsonl").write_text('{"email": "a@b.c"}\n{"email": \n')
    project = Project.from_sql(PIPELINE, tmp_path)
    assert project.run(once=True).ok
    [record] = project.quarantine().rows()
    for name in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    assert project.quarantine_record(record["id"], decrypt=True)["raw"] == '{"email": '
    [(actor,)] = project.query("SELECT actor FROM system.audit").fetchall()
    assert actor == pwd.getpwuid(os.getuid()).pw_name
