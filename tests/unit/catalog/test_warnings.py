"""Warnings: a transformation INSERT job without a window filter (valid, most likely a mistake)."""

from __future__ import annotations

import pytest

from headwater.catalog import build_catalog
from headwater.catalog.warnings import warnings
from headwater.dialect import parse
from headwater.plan.plan import make_plan

TABLES = "CREATE TABLE b.o (id BIGINT, at TIMESTAMPTZ);\n"


def warned(sql: str) -> list[str]:
    return warnings(build_catalog(parse(TABLES + sql, file="p.sql")))


@pytest.mark.parametrize(
    ("job", "column"),
    [
        ("CREATE JOB t AS INSERT INTO s.x SELECT * FROM b.o;", "$commit_time"),
        ("CREATE SYNC JOB t AS INSERT INTO s.x SELECT id FROM b.o WHERE id > 3;", "$event_time"),
    ],
)
def test_an_insert_job_without_a_window_filter_is_warned_about(job: str, column: str) -> None:
    (warning,) = warned(job)
    assert warning.startswith("job t (p.sql:2:1) has no window filter")
    assert f"WHERE {column} BETWEEN run_start_time() AND run_end_time()" in warning


@pytest.mark.parametrize(
    "job",
    [
        "CREATE JOB t AS INSERT INTO s.x SELECT * FROM b.o WHERE $commit_time BETWEEN run_start_time() AND run_end_time();",
        "CREATE JOB t AS INSERT INTO s.x SELECT * FROM b.o WHERE $commit_time >= RUN_START_TIME();",
        "CREATE JOB t AS MERGE INTO s.x t USING b.o s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id);",
    ],
)
def test_a_bounded_job_or_a_merge_is_not(job: str) -> None:
    assert warned(job) == []


def test_plan_says_it_under_the_job_created() -> None:
    catalog = build_catalog(
        parse(TABLES + "CREATE JOB t AS INSERT INTO s.x SELECT * FROM b.o;", file="p.sql")
    )
    plan = make_plan(catalog, [])
    assert [n for n in plan.notes["t"] if n.startswith("warning: job t (p.sql:2:1) has no window filter")]
    assert "    warning: job t" in "\n".join(plan.explain())
