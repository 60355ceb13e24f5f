"""A column that HASH, MASK or REDACT reads into another column is never stored in clear."""

from __future__ import annotations

from collections.abc import Callable

import headwater as hw
from tests.conftest import write_jsonl

ROWS = [
    {"id": 1, "email": "ann@example.com", "card": "4111111111111111", "customer": {"phone": "555-0101"}},
    {"id": 2, "email": "bob@example.com", "card": "5500000000000004", "customer": {"phone": "555-0102"}},
]


def test_the_column_read_into_another_is_left_out(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load
            COLUMN_TRANSFORMATIONS = (email_hash = HASH(email), card_tail = MASK(card, 4),
                                      phone_hash = HASH(customer.phone))
        AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.people;
        """
    )
    write_jsonl(project.path / "landing/a.jsonl", ROWS)
    assert project.run(once=True).ok
    result = project.query(
        "SELECT * EXCLUDE ($event_time, $commit_time, $source, $run_id) FROM bronze.people"
    )
    columns = result.arrow().column_names
    assert "email" not in columns and "card" not in columns
    rows = [dict(zip(columns, r, strict=True)) for r in result.fetchall()]
    assert sorted(r["card_tail"] for r in rows) == ["************0004", "************1111"]
    assert all(len(r["email_hash"]) == 64 and len(r["phone_hash"]) == 64 for r in rows)
    assert all("phone" not in (r["customer"] or {}) for r in rows)
    # Nowhere in clear: not in any column of any row.
    text = str(project.query("SELECT * FROM bronze.people").fetchall())
    for row in ROWS:
        assert row["email"] not in text and row["card"] not in text  # type: ignore[operator]
        assert row["customer"]["phone"] not in text  # type: ignore[index]


def test_a_column_transformed_in_place_is_kept_transformed(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load COLUMN_TRANSFORMATIONS = (email = MASK(email, 4), email_hash = HASH(email))
        AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.people;
        """
    )
    write_jsonl(project.path / "landing/a.jsonl", ROWS)
    assert project.run(once=True).ok
    rows = project.query("SELECT email, length(email_hash) FROM bronze.people ORDER BY id").fetchall()
    assert rows == [("***********.com", 64), ("***********.com", 64)]
