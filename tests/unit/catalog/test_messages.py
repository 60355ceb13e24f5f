"""Messages name statements the way users write them, never by Headwater's class names."""

from __future__ import annotations

import pytest

from headwater.catalog import build_catalog
from headwater.dialect import parse
from headwater.errors import UserError


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("PAUSE JOB load", "PAUSE JOB"),
        ("ALTER JOB load SET COMMIT_INTERVAL = 1 SECOND", "ALTER JOB"),
        ("DROP TABLE bronze.t", "DROP TABLE"),
        ("DROP MATERIALIZED VIEW gold.v", "DROP MATERIALIZED VIEW"),
    ],
)
def test_interactive_statements_in_a_file(sql: str, words: str) -> None:
    with pytest.raises(UserError) as info:
        build_catalog(parse(sql, file="p.sql"))
    assert info.value.message == f"p.sql:1:1: {words} is for the deployed pipeline, not a project file"
