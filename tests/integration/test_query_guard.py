"""`headwater query` reads unless writes are asked for; system and state tables take no user writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater import Project
from headwater.cli.app import app
from headwater.errors import UserError

PIPELINE = """
CREATE FILES CONNECTION landing PATH = 'data/landing';
CREATE TABLE bronze.users;
CREATE TABLE bronze.extra (n INTEGER);
CREATE JOB load_users AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.users;
"""


def make_project(folder: Path) -> Project:
    (folder / "data" / "landing").mkdir(parents=True)
    (folder / "data" / "landing" / "a.jsonl").write_text('{"user_id": 1}\n{"user_id": 2}\n')
    project = Project.from_sql(PIPELINE, folder)
    assert project.run(once=True).ok
    return project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """For tests that change nothing (they check that they did not)."""
    return make_project(tmp_path_factory.mktemp("shared"))


def counts(project: Project) -> tuple[int, int, int]:
    [row] = project.query(
        "SELECT (SELECT count(*) FROM bronze.users), (SELECT count(*) FROM system.runs),"
        " (SELECT count(*) FROM lake.headwater.job_state)"
    ).fetchall()
    return row


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO bronze.users (user_id) VALUES (1)",
        "DELETE FROM system.runs",
        "UPDATE bronze.users SET user_id = 0",
        "DELETE FROM lake.headwater.job_state",
        "TRUNCATE bronze.users",
        "ALTER TABLE bronze.users ADD COLUMN x INTEGER",
        "CREATE VIEW bronze.v AS SELECT 1",
        "SELECT 1; DELETE FROM bronze.users",
        "EXPLAIN ANALYZE DELETE FROM bronze.users",
        "PRAGMA enable_profiling",
    ],
)
def test_writes_are_refused_by_default_and_change_nothing(shared: Project, sql: str) -> None:
    before = counts(shared)
    with pytest.raises(UserError, match="read-only") as info:
        shared.query(sql)
    assert "--allow-writes" in (info.value.hint or "")
    assert counts(shared) == before


def test_copy_to_a_file_is_a_write(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(UserError, match="read-only"):
        project.query(f"COPY (SELECT * FROM bronze.users) TO '{out}'")
    assert not out.exists()
    project.query(f"COPY (SELECT * FROM bronze.users) TO '{out}'", allow_writes=True)
    assert out.read_text().count("\n") == 3


READING = [
    "SELECT count(*) FROM system.runs",
    "WITH u AS (SELECT * FROM bronze.users) SELECT $source,$run_id FROM u",
    "FROM bronze.users",
    "SELECT 1 UNION ALL SELECT 2",
    "SHOW ALL TABLES",
    "DESCRIBE bronze.users",
    "SUMMARIZE bronze.users",
    "EXPLAIN SELECT $source FROM bronze.users",
    "EXPLAIN ANALYZE SELECT count(*) FROM system.runs",
    "PRAGMA table_info('bronze.users')",
    "VALUES (1), (2)",
]


def test_reading_statements_run(shared: Project) -> None:
    before = counts(shared)
    for sql in READING:
        assert shared.query(sql).arrow().num_rows >= 1, sql
    assert counts(shared) == before


def test_a_reading_statement_with_side_effects_is_rolled_back(shared: Project) -> None:
    shared.query("SELECT * FROM ducklake_set_option('lake', 'parquet_compression', 'gzip')")
    options = shared.query("SELECT option_name FROM ducklake_options('lake')").fetchall()
    assert ("parquet_compression",) not in options


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM system.runs",
        'DELETE FROM "system".runs',
        "INSERT INTO system.audit VALUES (now(), 'me', 'x', 'y')",
        "UPDATE lake.system.jobs SET status = 'idle'",
        "DELETE FROM lake.headwater.job_state",
        "DELETE FROM headwater.deployed",
        "DROP TABLE system.runs",
        "TRUNCATE lake.headwater.offsets",
    ],
)
def test_system_and_state_tables_never_take_writes(shared: Project, sql: str) -> None:
    before = counts(shared)
    with pytest.raises(UserError, match=r"take no user writes|cannot be dropped|Headwater's own"):
        shared.query(sql, allow_writes=True)
    assert counts(shared) == before


def test_use_cannot_point_bare_names_at_system_tables(shared: Project) -> None:
    with pytest.raises(UserError, match="USE is not run"):
        shared.query("USE lake.system; DELETE FROM runs", allow_writes=True)
    assert counts(shared)[1] == 1


def test_allowed_writes_into_lake_tables(project: Project) -> None:
    project.query("INSERT INTO bronze.users (user_id) VALUES (3)", allow_writes=True)
    assert counts(project)[0] == 3


def test_headwater_statements_keep_working(project: Project) -> None:
    assert project.query("PAUSE JOB load_users").fetchall() == [("load_users", "paused")]
    assert project.status()[0]["status"] == "paused"
    assert project.query("RESUME JOB load_users").fetchall() == [("load_users", "resumed")]
    changed = project.query(
        "ALTER JOB load_users ADD EXPECTATION positive EXPECT user_id > 0 ON VIOLATION DROP"
    )
    assert changed.fetchall() == [("load_users", "positive", "add")]
    with pytest.raises(UserError, match=r"CREATE JOB statements belong in the project's \.sql files"):
        project.query("CREATE JOB other AS COPY FROM landing INTO bronze.other")
    changed = project.query("ALTER JOB load_users SET COMMIT_INTERVAL = 1 SECOND")
    assert changed.fetchall() == [("load_users", "COMMIT_INTERVAL", "1 SECOND")]


def test_interactive_drop_table(project: Project) -> None:
    project.query("INSERT INTO bronze.extra (n) VALUES (1)", allow_writes=True)
    with pytest.raises(UserError, match="read-only"):
        project.query("DROP TABLE bronze.extra")
    with pytest.raises(UserError, match=r"bronze\.extra is declared at project\.sql:4:1"):
        project.query("DROP TABLE bronze.extra", allow_writes=True)
    with pytest.raises(UserError, match=r"ingest job load_users \(project\.sql:\d+:1\) still uses it"):
        project.query("DROP TABLE bronze.users", allow_writes=True)
    with pytest.raises(UserError, match=r"job load_users is declared at project\.sql:\d+:1"):
        project.query("DROP JOB load_users", allow_writes=True)
    # Once its statement is gone, the table can be dropped by hand, and `run` has nothing
    # left to drop (no --allow-drop needed).
    sql = project.path / "project.sql"
    sql.write_text(sql.read_text().replace("CREATE TABLE bronze.extra (n INTEGER);", ""))
    assert project.query("DROP TABLE bronze.extra", allow_writes=True).fetchall() == [
        ("bronze.extra", "dropped")
    ]
    assert project.plan().empty
    assert project.run(once=True).ok
    with pytest.raises(UserError, match="does not exist"):
        project.query("SELECT * FROM bronze.extra")


def test_cli_query_is_read_only_unless_allowed(project: Project) -> None:
    runner = CliRunner()
    refused = runner.invoke(app, ["query", "-p", str(project.path), "DELETE FROM bronze.users"])
    assert refused.exit_code == 2
    assert "read-only" in refused.stderr and "--allow-writes" in refused.stderr
    assert "Traceback" not in refused.output
    allowed = runner.invoke(
        app,
        ["query", "-p", str(project.path), "--allow-writes", "DELETE FROM bronze.users WHERE user_id = 1"],
    )
    assert allowed.exit_code == 0, allowed.output
    system = runner.invoke(
        app, ["query", "-p", str(project.path), "--allow-writes", "DELETE FROM system.runs"]
    )
    assert system.exit_code == 2
    assert counts(project)[:2] == (1, 1)
