"""``Lake.transaction()`` inside another is part of it: one commit, or nothing at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.lake import Lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "catalog.ducklake"), str(tmp_path / "data"))
    lake.execute("CREATE TABLE lake.main.t (id BIGINT)")
    return lake


def test_nested_transactions_commit_once(lake: Lake) -> None:
    before = lake.snapshot_id()
    with lake.transaction():
        lake.execute("INSERT INTO lake.main.t VALUES (1)")
        with lake.transaction():
            lake.execute("INSERT INTO lake.main.t VALUES (2)")
        lake.execute("INSERT INTO lake.main.t VALUES (3)")
    assert lake.snapshot_id() == before + 1
    assert lake.fetchall("SELECT id FROM lake.main.t ORDER BY id") == [(1,), (2,), (3,)]


def test_a_failure_inside_rolls_back_the_outer_transaction(lake: Lake) -> None:
    with pytest.raises(ValueError), lake.transaction():
        lake.execute("INSERT INTO lake.main.t VALUES (1)")
        with lake.transaction():
            lake.execute("INSERT INTO lake.main.t VALUES (2)")
            raise ValueError("boom")
    assert lake.fetchall("SELECT id FROM lake.main.t") == []
    with lake.transaction():  # and the next one starts afresh
        lake.execute("INSERT INTO lake.main.t VALUES (4)")
    assert lake.fetchall("SELECT id FROM lake.main.t") == [(4,)]
