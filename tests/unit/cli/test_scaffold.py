"""`headwater init`: a project that validates, and nothing overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

import headwater as hw
from headwater.cli.scaffold import init_project
from headwater.config import load_settings


def test_writes_a_project_that_validates(tmp_path: Path) -> None:
    made = init_project(tmp_path / "new")
    assert made.written == ["headwater.toml", "pipeline.sql", "data/landing/orders.jsonl", ".gitignore"]
    catalog = hw.Project(tmp_path / "new").validate()
    assert [e.name for e in catalog.jobs] == ["load_orders", "clean_orders"]
    assert [e.name for e in catalog.views] == ["gold.revenue_by_customer"]
    # Every setting is commented out: the file means the defaults.
    assert load_settings(tmp_path / "new") == hw.Project(tmp_path / "new").settings.__class__()
    assert ".headwater/" in (tmp_path / "new" / ".gitignore").read_text()


def test_templates_promise_nothing_untrue(tmp_path: Path) -> None:
    init_project(tmp_path)
    ignored = (tmp_path / ".gitignore").read_text()
    # .headwater/ holds the lake's rows and the secret: nothing rebuilds them.
    assert "rebuilt" not in ignored and "secret" in ignored and "do not delete" in ignored
    # Object storage is not supported as data_path in this version.
    assert "s3://" not in (tmp_path / "headwater.toml").read_text()


def test_commented_settings_are_valid_when_uncommented(tmp_path: Path) -> None:
    init_project(tmp_path)
    toml = tmp_path / "headwater.toml"
    lines = toml.read_text().splitlines()
    toml.write_text(
        "\n".join(line[2:] if line.startswith("# ") and " = " in line else line for line in lines) + "\n"
    )
    settings = load_settings(tmp_path)
    assert settings.run.poll_interval_seconds == 1.0
    assert settings.lake.data_path == "/mnt/lake/data"


def test_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "pipeline.sql").write_text("-- mine\n")
    with pytest.raises(hw.UserError, match=r"already has pipeline\.sql"):
        init_project(tmp_path)
    assert (tmp_path / "pipeline.sql").read_text() == "-- mine\n"
    assert not (tmp_path / "headwater.toml").exists()


def test_keeps_an_existing_gitignore(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    made = init_project(tmp_path)
    assert made.kept == [".gitignore"]
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n"


def test_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(hw.UserError, match="not a folder"):
        init_project(tmp_path / "f")
