"""Values inside objects and arrays are stored exactly or quarantined, never converted silently
(DuckDB's json_transform alone turns 2.5 into 2 in a BIGINT field, a too-large integer or an
object where a number was planned into NULL)."""

from __future__ import annotations

import json
from collections.abc import Callable

import headwater as hw

GOOD = [
    {"id": 1, "customer": {"id": 10, "tags": ["a"]}, "items": [{"qty": 2, "price": 1.5}]},
    {
        "id": 2,
        "customer": {"id": 11, "tags": []},
        "items": [{"qty": 1, "price": 2.0}, {"qty": 3, "price": 0.25}],
    },
]
BAD = {
    3: {"id": 3, "customer": {"id": 2.5, "tags": ["b"]}, "items": []},
    4: {"id": 4, "customer": {"id": 99999999999999999999999, "tags": []}, "items": []},
    5: {"id": 5, "customer": {"id": 12, "tags": []}, "items": [{"qty": 1.25, "price": 1.0}]},
    6: {"id": 6, "customer": "not an object", "items": []},
    7: {"id": 7, "customer": {"id": 13, "tags": []}, "items": 5},
    8: {"id": 8, "customer": {"id": True, "tags": []}, "items": []},
}


def test_nested_values_are_exact_or_quarantined(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.orders;
        """
    )
    landing = project.path / "landing"
    # The first file fixes the types (customer.id BIGINT, items[].qty BIGINT); the second
    # brings values that do not fit them, planned from the table.
    (landing / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in GOOD))
    assert project.run(once=True).ok
    (landing / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in BAD.values()))
    assert project.run(once=True).ok
    stored = project.query(
        "SELECT id, customer.id, [i.qty FOR i IN items], [i.price FOR i IN items] FROM bronze.orders ORDER BY id"
    ).fetchall()
    assert stored == [(1, 10, [2], [1.5]), (2, 11, [1, 3], [2.0, 0.25])]
    quarantined = {
        json.loads(raw)["id"]: reason
        for raw, reason in project.query("SELECT raw, reason FROM system.quarantine").fetchall()
    }
    assert sorted(quarantined) == sorted(BAD)
    assert quarantined[3].startswith("column customer: a nested value does not fit STRUCT(")
    assert quarantined[5].startswith("column items: a nested value does not fit STRUCT(")
    runs = project.query(
        "SELECT sum(rows_read), sum(rows_written), sum(rows_quarantined) FROM system.runs WHERE job = 'load'"
    ).fetchall()
    assert runs == [(len(GOOD) + len(BAD), len(GOOD), len(BAD))]


def test_nested_values_in_a_first_batch(make_project: Callable[..., hw.Project]) -> None:
    """Planned from a sample of a new table's first records: a field that no DOUBLE holds
    exactly is quarantined, not rounded (99999999999999999999999 is not 1e+23)."""
    project = make_project(
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.points;
        """
    )
    rows = [{"id": i, "p": {"x": i, "y": [i, i + 1]}} for i in range(30_000)]
    rows.append({"id": 30_000, "p": {"x": 7.5, "y": [1]}})
    rows.append({"id": 30_001, "p": {"x": 99999999999999999999999, "y": [1]}})
    (project.path / "landing" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert project.run(once=True).ok
    got = project.query("SELECT id, p.x, p.y FROM bronze.points WHERE id >= 29_999 ORDER BY id").fetchall()
    assert got == [(29_999, 29_999, [29_999, 30_000]), (30_000, 7.5, [1])]
    quarantined = project.query("SELECT raw, reason FROM system.quarantine").fetchall()
    assert [json.loads(raw)["id"] for raw, _ in quarantined] == [30_001]
    assert quarantined[0][1].startswith("column p: a nested value does not fit STRUCT(")


def test_a_nested_field_in_another_case_is_not_lost(make_project: Callable[..., hw.Project]) -> None:
    """Top-level keys map to their column ignoring case; inside an object a field named in
    another case would read as NULL (or vanish beside its twin): the record is quarantined."""
    project = make_project(
        """
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.t;
        """
    )
    landing = project.path / "landing"
    (landing / "a.jsonl").write_text('{"id": 1, "c": {"x": 1, "y": "a"}}\n{"id": 5, "c": {}}\n')
    assert project.run(once=True).ok
    (landing / "b.jsonl").write_text(
        '{"id": 2, "c": {"X": 2, "y": "b"}}\n{"id": 3, "c": {"x": 3, "X": 4}}\n{"id": 4, "C": {"x": 5}}\n'
    )
    assert project.run(once=True).ok
    stored = project.query("SELECT id, c.x, c.y FROM bronze.t ORDER BY id").fetchall()
    assert stored == [(1, 1, "a"), (4, 5, None), (5, None, None)]
    quarantined = sorted(
        json.loads(raw)["id"] for (raw,) in project.query("SELECT raw FROM system.quarantine").fetchall()
    )
    assert quarantined == [2, 3]
