"""Golden files: every canonical statement round-trips; every bad one fails where it should."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.dialect import ParseError, parse
from headwater.dialect.nodes import CONNECTION_OPTIONS
from headwater.dialect.options import COPY_OPTIONS, JOB_OPTIONS

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ERROR_MARK = "-- error: "


def identity_lines() -> list[str]:
    lines = (FIXTURES / "identity.sql").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("--")]


def error_cases() -> list[tuple[str, str]]:
    cases: list[tuple[str, str]] = []
    sql: list[str] = []
    for line in (FIXTURES / "errors.sql").read_text().splitlines():
        if line.startswith(ERROR_MARK):
            cases.append(("\n".join(sql), line.removeprefix(ERROR_MARK)))
            sql = []
        elif sql or (line.strip() and not line.startswith("--")):
            sql.append(line)
    assert not "\n".join(sql).strip(), "errors.sql ends with a case that has no '-- error:' line"
    return cases


@pytest.mark.parametrize("line", identity_lines())
def test_identity(line: str) -> None:
    (statement,) = parse(line)
    assert statement.to_sql() == line
    assert parse(statement.to_sql()) == [statement]


@pytest.mark.parametrize(("sql", "expected"), error_cases())
def test_errors(sql: str, expected: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(sql, file="case.sql")
    error = info.value
    assert f"{error.line}:{error.col}: {error.reason}".startswith(expected)
    assert str(error).startswith(f"case.sql:{expected}")
    caret_line = error.excerpt.splitlines()[-1]
    assert caret_line.endswith("^")
    assert caret_line.index("^") - caret_line.index("|") - 2 == error.col - 1


def test_golden_files_cover_every_statement_form_and_option() -> None:
    text = (FIXTURES / "identity.sql").read_text()
    words = [
        *JOB_OPTIONS,
        *COPY_OPTIONS,
        *(o for opts in CONNECTION_OPTIONS.values() for o in opts),
        *(f"CREATE {kind} CONNECTION" for kind in CONNECTION_OPTIONS),
        "CREATE TABLE", "PRIMARY KEY", "PARTITIONED BY", "CREATE SYNC JOB", "CREATE JOB",
        "INTO SCHEMA", "AS INSERT INTO", "AS MERGE INTO", "CREATE MATERIALIZED VIEW",
        "WITH EXPECTATION", "ON VIOLATION DROP", "ON VIOLATION WARN", "ON VIOLATION QUARANTINE",
        "ON VIOLATION ABORT", "ALTER JOB", "SET", "ADD EXPECTATION", "DROP EXPECTATION", "PAUSE JOB",
        "RESUME JOB", "DROP JOB", "DROP TABLE", "DROP CONNECTION", "DROP MATERIALIZED VIEW",
        "CONTENT_TYPE = JSON", "CONTENT_TYPE = CSV", "CONTENT_TYPE = PARQUET",
        "START_FROM = BEGINNING", "START_FROM = NOW", "START_FROM = '",
        "ON_SCHEMA_CHANGE = EVOLVE", "ON_SCHEMA_CHANGE = QUARANTINE", "ON_SCHEMA_CHANGE = FAIL",
        "CDC_MODE = REPLICATE", "CDC_MODE = SOFT_DELETE", "CDC_MODE = CHANGELOG", "CDC_MODE = HISTORY",
        "SECOND", "MINUTES", "HOUR", "DAY", "HASH(", "MASK(", "REDACT(",
        "$event_time", "$commit_time", "$source", "$run_id", "$op", "$valid_from", "$valid_to",
    ]  # fmt: skip
    assert [w for w in words if w not in text] == []
