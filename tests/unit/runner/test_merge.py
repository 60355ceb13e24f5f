"""The key a MERGE job's USING rows are grouped by, to merge several rows of one key in order."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from headwater.runner.merge import _source_key


def key(sql: str) -> list[str]:
    body = sqlglot.parse_one(sql, dialect="duckdb")
    assert isinstance(body, exp.Merge)
    alias = body.args["using"].alias_or_name
    return [k.sql(dialect="duckdb") for k in _source_key(body, alias)]


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        ("t.id = s.id", ["s.id"]),
        ("s.id = t.id", ["s.id"]),
        ("t.a = s.a AND t.b = lower(s.b)", ["s.a", "LOWER(s.b)"]),
        ("t.a = s.a AND t.active AND s.n > 0", ["s.a"]),  # other conditions are not the key
        ("t.a = s.a OR t.b = s.b", []),  # no conjunction of equalities: no key
        ("t.a = t.b", []),
        ("s.a = s.b AND t.id = s.id", ["s.id"]),
    ],
)
def test_the_key_is_the_source_side_of_the_equalities_with_the_target(on: str, expected: list[str]) -> None:
    sql = f"MERGE INTO gold.x t USING (SELECT 1) s ON {on} WHEN MATCHED THEN DELETE"
    assert key(sql) == expected


def test_an_unaliased_target_is_named_by_its_table() -> None:
    sql = "MERGE INTO gold.x USING (SELECT 1) AS src ON x.id = src.id WHEN MATCHED THEN DELETE"
    assert key(sql) == ["src.id"]
