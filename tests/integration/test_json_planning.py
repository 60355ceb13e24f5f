"""How a JSON chunk is planned: from the table's columns (no pass over the keys) or from a sample;
every record's keys are still checked, so a key that neither the table nor the sample has is
never lost, and an integer column meets a fraction under EVOLVE by being widened."""

from __future__ import annotations

from collections.abc import Callable

import headwater as hw
from tests.conftest import write_jsonl

JOB = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE TABLE bronze.events;
CREATE JOB load_events AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.events;
"""
LINES = 50_000  # the sample: the first 20,000 lines and every 2nd line after them
RARE = 30_001  # an odd line past the first 20,000: not in the sample


def rows(first_id: int, rare: dict[str, object] | None = None) -> list[dict[str, object]]:
    out: list[dict[str, object]] = [{"id": first_id + i, "amount": i} for i in range(LINES)]
    if rare:
        out[RARE - 1] = {**out[RARE - 1], **rare}
    return out


def counts(project: hw.Project) -> tuple[int, int]:
    (runs,) = project.query(
        "SELECT sum(rows_read)::BIGINT, sum(rows_quarantined)::BIGINT FROM system.runs"
    ).fetchall()
    return int(runs[0]), int(runs[1])


def test_a_key_outside_the_sample_of_a_new_table_is_kept(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(JOB)
    write_jsonl(project.path / "landing/a.jsonl", rows(0, {"coupon": "SAVE10"}))
    assert project.run(once=True).ok
    got = project.query("SELECT id, coupon FROM bronze.events WHERE coupon IS NOT NULL").fetchall()
    assert got == [(RARE - 1, "SAVE10")]
    assert counts(project) == (LINES, 0)


def test_a_key_the_table_lacks_is_added_in_a_later_run(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(JOB)
    write_jsonl(project.path / "landing/a.jsonl", rows(0))
    assert project.run(once=True).ok
    columns = project.query("SELECT * FROM bronze.events LIMIT 0").columns
    assert "coupon" not in columns
    write_jsonl(project.path / "landing/b.jsonl", rows(LINES, {"coupon": {"code": "X", "pct": 5}}))
    assert project.run(once=True).ok
    got = project.query(
        "SELECT id, coupon.code, coupon.pct FROM bronze.events WHERE coupon IS NOT NULL"
    ).fetchall()
    assert got == [(LINES + RARE - 1, "X", 5)]
    assert project.query("SELECT count(*) FROM bronze.events").fetchall() == [(2 * LINES,)]
    assert counts(project) == (2 * LINES, 0)


def test_an_integer_column_is_widened_for_a_fraction_outside_the_sample(
    make_project: Callable[..., hw.Project],
) -> None:
    project = make_project(JOB)
    write_jsonl(project.path / "landing/a.jsonl", rows(0))
    assert project.run(once=True).ok
    types = dict(project.query("SELECT column_name, column_type FROM (DESCRIBE bronze.events)").fetchall())
    assert types["amount"] == "BIGINT"
    write_jsonl(project.path / "landing/b.jsonl", rows(LINES, {"amount": 2.5}))
    assert project.run(once=True).ok
    types = dict(project.query("SELECT column_name, column_type FROM (DESCRIBE bronze.events)").fetchall())
    assert types["amount"] == "DOUBLE"
    assert project.query(f"SELECT amount FROM bronze.events WHERE id = {LINES + RARE - 1}").fetchall() == [
        (2.5,)
    ]
    assert counts(project) == (2 * LINES, 0)


def test_a_value_that_does_not_fit_is_quarantined_not_widened(
    make_project: Callable[..., hw.Project],
) -> None:
    project = make_project(JOB)
    write_jsonl(project.path / "landing/a.jsonl", rows(0))
    assert project.run(once=True).ok
    write_jsonl(project.path / "landing/b.jsonl", rows(LINES, {"amount": "lots"}))
    assert project.run(once=True).ok
    types = dict(project.query("SELECT column_name, column_type FROM (DESCRIBE bronze.events)").fetchall())
    assert types["amount"] == "BIGINT"
    got = project.query("SELECT $source, reason FROM system.quarantine").fetchall()
    assert got == [(f"file:landing/b.jsonl:{RARE}", "column amount: expected BIGINT")]
    assert counts(project) == (2 * LINES, 1)


def test_a_new_field_of_an_object_column_is_added(make_project: Callable[..., hw.Project]) -> None:
    project = make_project(JOB)

    def nested(first_id: int, rare: bool) -> list[dict[str, object]]:
        out: list[dict[str, object]] = [
            {"id": first_id + i, "customer": {"id": i, "email": "x"}} for i in range(LINES)
        ]
        if rare:
            out[RARE - 1]["customer"] = {"id": 1, "email": "y", "tier": "gold"}
        return out

    write_jsonl(project.path / "landing/a.jsonl", nested(0, False))
    assert project.run(once=True).ok
    write_jsonl(project.path / "landing/b.jsonl", nested(LINES, True))
    assert project.run(once=True).ok
    got = project.query(
        "SELECT id, customer.tier FROM bronze.events WHERE customer.tier IS NOT NULL"
    ).fetchall()
    assert got == [(LINES + RARE - 1, "gold")]
    assert counts(project) == (2 * LINES, 0)
