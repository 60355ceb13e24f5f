"""A user's mistakes, through the command line: options that would fail silently are errors
before anything runs, and a job's mistake fails that job with a clear message (job, file:line,
hint) — never a traceback, never a stopped run, never a protected value in the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.cli.app import app

ROWS = [
    {"id": 1, "email": "ann@example.com", "v": "x1", "ts": "2026-01-01T00:00:00Z"},
    {"id": 2, "email": "bob@example.com", "v": "x2", "ts": "2026-01-01T00:00:00Z"},
]
HEADER = """CREATE FILES CONNECTION land PATH = 'landing';
CREATE FILES CONNECTION side PATH = 'side';
CREATE JOB other AS COPY FROM side INTO raw.other;
CREATE JOB zzz_after AS COPY FROM side INTO raw.after;
"""
JOB_LINE = HEADER.count("\n") + 1  # the line of the job under test in pipeline.sql


def make(folder: Path, job: str, rows: list[dict[str, object]] | str = ROWS, toml: str | None = None) -> Path:
    (folder / "landing").mkdir(parents=True, exist_ok=True)
    (folder / "side").mkdir(exist_ok=True)
    (folder / "side" / "s.jsonl").write_text('{"k": 1}\n{"k": 2}\n')
    text = rows if isinstance(rows, str) else "".join(json.dumps(r) + "\n" for r in rows)
    (folder / "landing" / "a.jsonl").write_text(text)
    (folder / "pipeline.sql").write_text(HEADER + job + "\n")
    if toml is not None:
        (folder / "headwater.toml").write_text(toml)
    return folder


def cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout + result.stderr


def query(folder: Path, sql: str) -> list[dict[str, object]]:
    code, out = cli("query", "-p", folder, "--format", "json", sql)
    assert code == 0, out
    rows: list[dict[str, object]] = json.loads(out)
    return rows


def assert_job_failed(folder: Path, *needles: str) -> str:
    """``run --once`` fails job j only: exit 1, no traceback, the other jobs' rows committed,
    nothing of j's."""
    code, out = cli("run", "--once", "-p", folder)
    assert code == 1, out
    assert "Traceback" not in out and "bug in Headwater" not in out, out
    assert "✗ j" in out, out
    for needle in needles:
        assert needle in out, out
    assert query(folder, "SELECT count(*) AS n FROM raw.other") == [{"n": 2}]
    assert query(folder, "SELECT count(*) AS n FROM raw.after") == [{"n": 2}]
    assert not has_table(folder, "t")
    return out


def has_table(folder: Path, name: str) -> bool:
    found = query(folder, f"SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = '{name}'")
    return found != [{"n": 0}]


# -- 7. names that match no column --------------------------------------------------------------
SILENT = {
    "transformation": (
        "CREATE JOB j COLUMN_TRANSFORMATIONS = (e_mail = HASH(e_mail)) AS COPY FROM land INTO raw.t;",
        "COLUMN_TRANSFORMATIONS (e_mail = ...) names column 'e_mail'",
        "did you mean 'email'?",
    ),
    "expectation": (
        "CREATE JOB j AS COPY FROM land INTO raw.t WITH EXPECTATION e EXPECT nosuch > 0 ON VIOLATION DROP;",
        "expectation e names column 'nosuch'",
        "check the spelling",
    ),
    "expectation_typo": (
        "CREATE JOB j AS COPY FROM land INTO raw.t WITH EXPECTATION e EXPECT emial IS NOT NULL ON VIOLATION DROP;",
        "expectation e names column 'emial'",
        "did you mean 'email'?",
    ),
    "dedupe": (
        "CREATE JOB j DEDUPLICATE_WITH = (COLUMNS = (idd), WINDOW = 1 HOUR) AS COPY FROM land INTO raw.t;",
        "DEDUPLICATE_WITH COLUMNS names column 'idd'",
        "did you mean 'id'?",
    ),
    "exclude": (
        "CREATE JOB j EXCLUDE_COLUMNS = (emial) AS COPY FROM land INTO raw.t;",
        "EXCLUDE_COLUMNS names column 'emial'",
        "did you mean 'email'?",
    ),
    "event_time": (
        "CREATE JOB j EVENT_TIME = tss AS COPY FROM land INTO raw.t;",
        "EVENT_TIME names column 'tss'",
        "did you mean 'ts'?",
    ),
}


@pytest.mark.parametrize("case", list(SILENT))
def test_a_name_that_matches_no_column_fails_the_job_before_anything_is_written(
    tmp_path: Path, case: str
) -> None:
    job, message, hint = SILENT[case]
    out = assert_job_failed(make(tmp_path, job), message, hint, "columns: id, email, v, ts")
    assert f"pipeline.sql:{JOB_LINE}:" in out
    # nothing stored in clear, nothing dropped: the job did not run
    assert "ann@example.com" not in out


@pytest.mark.parametrize("case", [c for c in SILENT if c != "expectation"])
def test_validate_checks_the_names_against_an_existing_table(tmp_path: Path, case: str) -> None:
    """(A name unlike any column of the table may come with new data: `run` checks it.)"""
    folder = make(tmp_path, "CREATE JOB j AS COPY FROM land INTO raw.t;")
    assert cli("run", "--once", "-p", folder)[0] == 0
    job, message, hint = SILENT[case]
    (folder / "pipeline.sql").write_text(HEADER + job + "\n")
    for command in ("validate", "plan"):
        code, out = cli(command, "-p", folder)
        assert code == 2, out
        assert f"error: pipeline.sql:{JOB_LINE}:" in out and message in out and hint in out, out
        assert "not a column of raw.t" in out


def test_a_declared_table_is_checked_without_a_lake(tmp_path: Path) -> None:
    folder = make(
        tmp_path,
        "CREATE TABLE raw.t (id BIGINT, email VARCHAR);\n"
        "CREATE JOB j COLUMN_TRANSFORMATIONS = (e_mail = HASH(e_mail)) AS COPY FROM land INTO raw.t;",
    )
    code, out = cli("validate", "-p", folder)
    assert code == 2 and "names column 'e_mail'" in out and "did you mean 'email'?" in out, out
    assert not (folder / ".headwater").exists()  # validate changes nothing


def test_a_protected_column_the_first_batch_lacks_must_be_declared(tmp_path: Path) -> None:
    """Erring on the side of privacy: `card = MASK(card, 4)` with no card in the first records
    could be a misspelling; the job fails until the column is declared. After that, and once
    the table has the column, a batch without it is fine."""
    job = "CREATE JOB j COLUMN_TRANSFORMATIONS = (email = HASH(email), card = MASK(card, 4)) AS COPY FROM land INTO raw.t;"
    folder = make(tmp_path, job)
    out = assert_job_failed(
        folder, "names column 'card'", "declare it: CREATE TABLE raw.t (card <type>, ...)"
    )
    (folder / "pipeline.sql").write_text(HEADER + job + "\nCREATE TABLE raw.t (card VARCHAR);\n")
    code, out = cli("run", "--once", "-p", folder)
    assert code == 0, out
    (folder / "landing" / "b.jsonl").write_text('{"id": 3, "card": "4111222233334444"}\n{"id": 4}\n')
    code, out = cli("run", "--once", "-p", folder)
    assert code == 0, out
    rows = query(folder, "SELECT id, email, card FROM raw.t ORDER BY id")
    assert [(r["id"], r["card"]) for r in rows] == [(1, None), (2, None), (3, "************4444"), (4, None)]
    assert not {str(r["email"]) for r in rows} & {str(x["email"]) for x in ROWS}


# -- MERGE jobs: expectations on the USING rows --------------------------------------------------
MERGE = (
    "CREATE JOB m AS MERGE INTO gold.r t USING (SELECT id, sum(amount) AS total FROM raw.t "
    "WHERE $commit_time BETWEEN run_start_time() AND run_end_time() GROUP BY id) s ON t.id = s.id "
    "WHEN MATCHED THEN UPDATE SET total = t.total + s.total "
    "WHEN NOT MATCHED THEN INSERT (id, total) VALUES (s.id, s.total) "
    "WITH EXPECTATION positive EXPECT total > 0 ON VIOLATION {action};"
)
AMOUNTS = [{"id": 1, "amount": 5}, {"id": 2, "amount": -3}, {"id": 1, "amount": 7}]


@pytest.mark.parametrize("action", ["DROP", "QUARANTINE", "ABORT"])
def test_expectations_of_a_merge_job_act_on_its_using_rows(tmp_path: Path, action: str) -> None:
    folder = make(
        tmp_path, "CREATE JOB j AS COPY FROM land INTO raw.t;\n" + MERGE.format(action=action), AMOUNTS
    )
    code, out = cli("run", "--once", "-p", folder)
    assert "Traceback" not in out
    if action == "ABORT":
        assert code == 1 and "expectation positive (ON VIOLATION ABORT) failed" in out, out
        assert not has_table(folder, "r") or query(folder, "SELECT count(*) AS n FROM gold.r") == [{"n": 0}]
        return
    assert code == 0, out
    assert query(folder, "SELECT id, total FROM gold.r ORDER BY id") == [{"id": 1, "total": 12}]
    runs = query(
        folder,
        "SELECT rows_read, rows_written, rows_dropped, rows_quarantined FROM system.runs WHERE job = 'm'",
    )
    quarantined = 1 if action == "QUARANTINE" else 0
    assert runs == [
        {"rows_read": 2, "rows_written": 1, "rows_dropped": 1 - quarantined, "rows_quarantined": quarantined}
    ]
    assert query(folder, "SELECT violations FROM system.expectations WHERE job = 'm'") == [{"violations": 1}]


# -- 8. settings and arguments rejected by validate ----------------------------------------------
@pytest.mark.parametrize(
    ("toml", "line", "message"),
    [
        (
            "[run]\npoll_interval_seconds = 1\nbatch_bytes = 0\n",
            3,
            "run.batch_bytes: Input should be greater than 0",
        ),
        ("[run]\nbatch_bytes = -5\n", 2, "run.batch_bytes: Input should be greater than 0"),
        ('[lake]\ndata_path = "pipeline.sql/data"\n', 2, "pipeline.sql is a file, not a folder"),
    ],
)
def test_validate_rejects_bad_settings_with_their_line(
    tmp_path: Path, toml: str, line: int, message: str
) -> None:
    folder = make(tmp_path, "CREATE JOB j AS COPY FROM land INTO raw.t;", toml=toml)
    for command in ("validate", "run"):
        code, out = cli(command, "--once", "-p", folder) if command == "run" else cli(command, "-p", folder)
        assert code == 2, out
        assert f"headwater.toml:{line}: " in out and message in out and "Traceback" not in out, out


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("COLUMN_TRANSFORMATIONS = (v = MASK(v, -2))", "MASK's second argument"),
        ("COLUMN_TRANSFORMATIONS = (v = MASK(v))", "MASK takes 2 arguments"),
        ("COLUMN_TRANSFORMATIONS = (v = HASH(v, 3))", "HASH takes 1 argument"),
        ("DEDUPLICATE_WITH = (COLUMNS = (id), WINDOW = 0 SECONDS)", "WINDOW must be at least 1 SECOND"),
    ],
)
def test_validate_rejects_bad_arguments_with_file_line(tmp_path: Path, option: str, message: str) -> None:
    folder = make(tmp_path, f"CREATE JOB j {option} AS COPY FROM land INTO raw.t;")
    code, out = cli("validate", "-p", folder)
    assert code == 2 and f"pipeline.sql:{JOB_LINE}:" in out and message in out, out


# -- 9. no tracebacks ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("job", "rows", "needles"),
    [
        (
            "CREATE JOB j AS COPY FROM land INTO raw.t WITH EXPECTATION e EXPECT v > 0 ON VIOLATION DROP;",
            ROWS,
            ["expectation e (pipeline.sql:", "Cannot compare values of type VARCHAR", "v VARCHAR"],
        ),
        (
            "CREATE JOB j AS COPY FROM land INTO raw.t WITH EXPECTATION e EXPECT nosuchfn(v) ON VIOLATION DROP;",
            ROWS,
            ["expectation e (pipeline.sql:", "nosuchfn does not exist"],
        ),
        (
            "CREATE JOB j COLUMN_TRANSFORMATIONS = (v = v + 1) AS COPY FROM land INTO raw.t;",
            ROWS,
            ["COLUMN_TRANSFORMATIONS (v = ...)", "'+(VARCHAR, INTEGER_LITERAL)'"],
        ),
        (
            "CREATE JOB j AS COPY FROM land INTO raw.t;",
            "\n\n\n",
            ["the lines of landing/a.jsonl are all blank"],
        ),
        (
            "CREATE JOB j AS COPY FROM land INTO raw.t;",
            "{}\n{}\n",
            ["file:landing/a.jsonl:1 on have no fields"],
        ),
        (
            "CREATE JOB j AS COPY FROM land INTO raw.t;",
            '{"id": 1, "v": ""}\n{"": 1, "a": 2}\n',
            ['file:landing/a.jsonl:2 has a key that is the empty string ""'],
        ),
    ],
)
def test_a_job_mistake_is_a_clear_job_failure(
    tmp_path: Path, job: str, rows: list[dict[str, object]] | str, needles: list[str]
) -> None:
    out = assert_job_failed(make(tmp_path, job, rows), f"job j (pipeline.sql:{JOB_LINE}:1)", *needles)
    assert "LINE 1:" not in out  # (Headwater's own SQL is not shown)


def test_a_duckdb_error_never_shows_a_protected_value(tmp_path: Path) -> None:
    job = (
        "CREATE JOB j COLUMN_TRANSFORMATIONS = (email = HASH(email)) AS COPY FROM land INTO raw.t "
        "WITH EXPECTATION e EXPECT CAST(email AS INTEGER) > 0 ON VIOLATION DROP;"
    )
    out = assert_job_failed(make(tmp_path, job), "Could not convert string '<value>' to INT32")
    assert "example.com" not in out and "ann@" not in out
    status = query(tmp_path, "SELECT error FROM system.jobs WHERE name = 'j'")
    assert "example.com" not in str(status)


def test_a_continuous_run_keeps_going_past_a_failing_job(tmp_path: Path) -> None:
    import headwater as hw

    folder = make(tmp_path, "CREATE JOB j EVENT_TIME = tss AS COPY FROM land INTO raw.t;")
    result = hw.Project(folder).run(max_passes=2)
    assert result.passes == 2 and list(result.failed_jobs) == ["j"]


def test_a_misspelt_column_is_refused_by_run_before_the_plan_is_applied(tmp_path: Path) -> None:
    """Once the table exists, `run` checks the columns a job names before deploying it: an
    edit that misspells one is not applied (and fails at once, not at the job's next batch)."""
    folder = make(
        tmp_path,
        "CREATE JOB j AS COPY FROM land INTO raw.people\nWITH EXPECTATION e EXPECT id > 0 ON VIOLATION DROP;",
    )
    code, out = cli("run", "--once", "-p", folder)
    assert code == 0, out
    sql = (folder / "pipeline.sql").read_text().replace("EXPECT id > 0", "EXPECT idd > 0")
    (folder / "pipeline.sql").write_text(sql)
    code, out = cli("run", "--once", "-p", folder)
    assert code == 2, out
    assert f"pipeline.sql:{JOB_LINE + 1}:" in out and "'idd'" in out and "did you mean 'id'" in out, out
    assert "applied plan" not in out, out
    deployed = query(folder, "SELECT sql FROM headwater.deployed WHERE name = 'j'")
    assert "EXPECT id > 0" in str(deployed[0]["sql"])
