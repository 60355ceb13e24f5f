"""``status`` keeps the list of a project's jobs and views from the last check of its files
(``headwater.listing``) and parses nothing while they are unchanged: what it shows must be
what checking the files shows, and any change to the files must be seen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import headwater as hw
from headwater import listing
from headwater.cli.scaffold import init_project
from headwater.dialect import parse, to_duckdb
from headwater.runner.windows import qualify_system_tables

STREAMS = """
CREATE KAFKA CONNECTION live HOSTS = ('127.0.0.1:9');
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE JOB load_clicks COMMIT_INTERVAL = 1 SECOND AS COPY FROM live TOPIC = 't' INTO bronze.clicks;
CREATE JOB load_files CONTENT_TYPE = JSON AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.files;
CREATE MATERIALIZED VIEW per_page AS SELECT count(*) AS n FROM bronze.clicks;
"""


@pytest.fixture
def shop(tmp_path: Path) -> hw.Project:
    init_project(tmp_path / "shop")
    made = hw.Project(tmp_path / "shop")
    assert made.run(once=True).ok
    return made


def test_status_queries_are_what_the_dialect_makes_of_them() -> None:
    for streams in ([], ["a"], ["a", "b'c", 'd"e']):
        listed = [listing.Listed(name, "ingest", "bronze.x", True) for name in streams]
        listed.append(listing.Listed("files", "ingest", "bronze.y", False))
        for ours, duck in listing.status_queries(listed):
            (stmt,) = parse(ours)
            assert to_duckdb(qualify_system_tables(stmt.expression)) == duck


def test_the_listing_is_what_the_files_give(tmp_path: Path) -> None:
    project = hw.Project.from_sql(STREAMS, tmp_path / "p")
    assert listing.listing(project.validate_files()) == [
        listing.Listed("load_clicks", "ingest", "bronze.clicks", True),
        listing.Listed("load_files", "ingest", "bronze.files", False),
        listing.Listed("per_page", "materialized view", "main.per_page", False),
    ]
    first = project.status()
    assert (project.state_dir / listing.LISTING_FILE).exists()
    assert project.status() == first == hw.Project(project.path).status()
    assert [r["name"] for r in first] == ["load_clicks", "load_files", "per_page"]
    assert first[0]["partitions"] == [] and "partitions" not in first[1]


def test_a_changed_added_or_removed_file_is_seen(shop: hw.Project) -> None:
    names = [r["name"] for r in shop.status()]
    assert names == [r["name"] for r in hw.Project(shop.path).status()]  # (from the listing)

    extra = shop.path / "more.sql"
    extra.write_text("CREATE JOB copy_orders AS INSERT INTO silver.copy SELECT * FROM bronze.orders;\n")
    assert [r["name"] for r in hw.Project(shop.path).status()] == [*names[:-1], "copy_orders", names[-1]]

    extra.write_text("CREATE JOB copy_orders2 AS INSERT INTO silver.copy SELECT * FROM bronze.orders;\n")
    assert "copy_orders2" in [r["name"] for r in hw.Project(shop.path).status()]

    extra.unlink()
    assert [r["name"] for r in hw.Project(shop.path).status()] == names


def test_a_file_that_no_longer_parses_is_an_error_as_before(shop: hw.Project) -> None:
    shop.status()
    pipeline = shop.path / "pipeline.sql"
    pipeline.write_text(pipeline.read_text() + "\nCREATE JOB broken AS SELEC 1;\n")
    with pytest.raises(hw.UserError) as raised:
        hw.Project(shop.path).status()
    assert "pipeline.sql:" in raised.value.message


def test_a_listing_for_other_files_or_unreadable_is_not_used(shop: hw.Project) -> None:
    rows = shop.status()
    kept = shop.state_dir / listing.LISTING_FILE
    stale = json.loads(kept.read_text())
    key = stale["key"]
    stale["entries"] = [{"name": "ghost", "kind": "ingest", "target": "bronze.ghost", "streamed": False}]
    kept.write_text(json.dumps(stale))
    assert [r["name"] for r in hw.Project(shop.path).status()] == ["ghost"]  # (the same key: used)

    stale["key"] = "another"
    kept.write_text(json.dumps(stale))
    assert hw.Project(shop.path).status() == rows
    broken = ["", "{", '{"key": 1}', json.dumps({"key": key, "entries": [{"name": 1}]}), "[]"]
    broken += [json.dumps({"key": key, "entries": [{**e, "streamed": "no"}]}) for e in stale["entries"]]
    broken += [json.dumps({"key": key, "entries": "x"}), json.dumps({"key": key, "entries": [[1]]})]
    for text in broken:
        kept.write_text(text)
        assert hw.Project(shop.path).status() == rows, text
