"""Data is stored exactly or quarantined with a reason, never silently changed: timestamps in
CSV, keys that differ only in case, integers beyond BIGINT, lines that are not UTF-8 (kept
exactly, and quarantined again by a replay), NaN and infinities, reserved key names. Expected
values are computed from the input in Python, not by Headwater."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import headwater as hw

JOB = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE TABLE bronze.events;
CREATE JOB load_events {options} AS COPY FROM landing PATTERN = '*.*' INTO bronze.events;
"""


def project_with(
    make_project: Callable[..., hw.Project], files: dict[str, bytes], options: str = ""
) -> hw.Project:
    project = make_project(JOB.format(options=options))
    for name, data in files.items():
        (project.path / "landing" / name).write_bytes(data)
    assert project.run(once=True).ok
    return project


def types(project: hw.Project) -> dict[str, str]:
    return dict(project.query("SELECT column_name, column_type FROM (DESCRIBE bronze.events)").fetchall())


def quarantine(project: hw.Project) -> list[tuple[str, str, str]]:
    return project.query('SELECT "$source", raw, reason FROM system.quarantine ORDER BY id').fetchall()


def accounted(project: hw.Project) -> tuple[int, int, int]:
    (row,) = project.query(
        "SELECT sum(rows_read)::BIGINT, sum(rows_written)::BIGINT, sum(rows_quarantined)::BIGINT FROM system.runs"
    ).fetchall()
    return int(row[0]), int(row[1]), int(row[2])


def test_csv_timestamps_keep_their_time(make_project: Callable[..., hw.Project]) -> None:
    values = ["2026-03-10T05:05:00Z", "2026-03-10T17:45:30+01:00", "2026-03-10 05:05:00"]
    csv = "a,b,c,d\n" + ",".join(values) + ",2026-03-10\n"
    project = project_with(make_project, {"a.csv": csv.encode()}, "EVENT_TIME = a")
    got = types(project)
    assert (got["a"], got["b"], got["c"], got["d"]) == (
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMP",
        "DATE",
    )
    ((a, b, c, event),) = project.query('SELECT a, b, c, "$event_time" FROM bronze.events').fetchall()
    assert a == datetime.fromisoformat(values[0]) and b == datetime.fromisoformat(values[1])
    assert c == datetime.fromisoformat(values[2])
    assert event == datetime(2026, 3, 10, 5, 5, tzinfo=UTC)


def test_values_that_a_type_would_change_are_not_inferred_as_it(
    make_project: Callable[..., hw.Project],
) -> None:
    rows = [
        ("007", "+5", "1e400", "2026-03-10T05:05:00.123456789Z", "9007199254740993"),
        ("12", "6", "1.5", "x", "0.5"),
    ]
    csv = "zip,signed,big,nanos,precise\n" + "".join(",".join(r) + "\n" for r in rows)
    project = project_with(make_project, {"a.csv": csv.encode()})
    assert {c: t for c, t in types(project).items() if not c.startswith("$")} == dict.fromkeys(
        ["zip", "signed", "big", "nanos", "precise"], "VARCHAR"
    )
    got = project.query(
        "SELECT zip, signed, big, nanos, precise FROM bronze.events ORDER BY $source"
    ).fetchall()
    assert got == rows


def test_keys_that_differ_only_in_case_are_one_column(make_project: Callable[..., hw.Project]) -> None:
    lines = [{"id": 1, "v": "a"}, {"Id": 2, "V": "b"}, {"id": 3, "Id": 4, "ID": 5}]
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    project = project_with(make_project, {"a.jsonl": data})
    assert [c for c in types(project) if not c.startswith("$")] == ["id", "v"]
    assert project.query("SELECT id, v FROM bronze.events ORDER BY id").fetchall() == [(1, "a"), (2, "b")]
    assert quarantine(project) == [
        (
            "file:landing/a.jsonl:3",
            json.dumps(lines[2]),
            "keys id, Id, ID differ only in case (column names are case-insensitive)",
        )
    ]
    # A later chunk meets the table's columns by name ignoring case.
    (project.path / "landing/b.jsonl").write_text(json.dumps({"ID": 6, "V": "c"}) + "\n")
    assert project.run(once=True).ok
    assert project.query("SELECT id, v FROM bronze.events WHERE id = 6").fetchall() == [(6, "c")]
    assert accounted(project) == (4, 3, 1)


def test_csv_header_names_that_differ_only_in_case(make_project: Callable[..., hw.Project]) -> None:
    project = project_with(make_project, {"a.csv": b"id,Id\n1,2\n"})
    assert quarantine(project) == [
        (
            "file:landing/a.csv:2",
            "1,2",
            "header names id, Id differ only in case (column names are case-insensitive)",
        )
    ]
    assert accounted(project) == (1, 0, 1)


def test_integers_beyond_bigint_are_kept_exactly(make_project: Callable[..., hw.Project]) -> None:
    big = 99999999999999999999999
    project = project_with(make_project, {"a.jsonl": b'{"n": 1}\n'})
    assert types(project)["n"] == "BIGINT"
    (project.path / "landing/b.jsonl").write_text(f'{{"n": {big}}}\n{{"n": {-(2**63) - 1}}}\n')
    assert project.run(once=True).ok
    assert types(project)["n"] == "HUGEINT"
    got = [int(r[0]) for r in project.query("SELECT n FROM bronze.events ORDER BY $source").fetchall()]
    assert got == [1, big, -(2**63) - 1]
    assert accounted(project) == (3, 3, 0)


def test_an_integer_column_becomes_double_only_if_exact(make_project: Callable[..., hw.Project]) -> None:
    precise = 2**53 + 1
    project = project_with(make_project, {"a.jsonl": f'{{"n": {precise}}}\n'.encode()})
    (project.path / "landing/b.jsonl").write_text('{"n": 2.5}\n')
    assert project.run(once=True).ok
    assert types(project)["n"] == "BIGINT"  # 2^53 + 1 is no DOUBLE: the fraction is quarantined
    assert project.query("SELECT n FROM bronze.events").fetchall() == [(precise,)]
    assert quarantine(project) == [("file:landing/b.jsonl:1", '{"n": 2.5}', "column n: expected BIGINT")]


def test_an_integer_column_whose_values_are_exact_in_a_double_is_widened(
    make_project: Callable[..., hw.Project],
) -> None:
    other = project_with(make_project, {"a.jsonl": b'{"n": 9007199254740992}\n'})
    (other.path / "landing/b.jsonl").write_text('{"n": 2.5}\n')
    assert other.run(once=True).ok
    assert types(other)["n"] == "DOUBLE"
    assert other.query("SELECT n FROM bronze.events ORDER BY $source").fetchall() == [(2.0**53,), (2.5,)]


def test_a_number_that_a_double_cannot_hold_is_quarantined(make_project: Callable[..., hw.Project]) -> None:
    data = b'{"x": 1.5}\n{"x": 1e400}\n{"x": NaN}\n{"x": -Infinity}\n{"x": 9007199254740993}\n'
    project = project_with(make_project, {"a.jsonl": data})
    got = project.query("SELECT x::VARCHAR FROM bronze.events ORDER BY $source").fetchall()
    assert got == [("1.5",), ("nan",), ("-inf",)]
    assert [(s, r) for s, _, r in quarantine(project)] == [
        ("file:landing/a.jsonl:2", "column x: expected DOUBLE"),
        ("file:landing/a.jsonl:5", "column x: expected DOUBLE"),
    ]


def test_reserved_key_names_are_stored_with_an_underscore(make_project: Callable[..., hw.Project]) -> None:
    lines = [{"$source": "crm", "__hw_line": 7, "v": 1}, {"$source": "a", "_$source": "b"}]
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    project = project_with(make_project, {"a.jsonl": data})
    got = project.query('SELECT "_$source", "___hw_line", v, "$source" FROM bronze.events').fetchall()
    assert got == [("crm", 7, 1, "file:landing/a.jsonl:1")]
    assert quarantine(project) == [
        (
            "file:landing/a.jsonl:2",
            json.dumps(lines[1]),
            "keys $source, _$source would all be stored in column _$source",
        )
    ]


@pytest.mark.parametrize("options", ["", "COLUMN_TRANSFORMATIONS = (s = HASH(s))"])
def test_a_line_that_is_not_utf8_is_kept_exactly_and_replay_quarantines_it_again(
    make_project: Callable[..., hw.Project], options: str
) -> None:
    bad_json, bad_csv = b'{"s": "caf\xe9"}', b"b\xfe,1"
    if True:  # (with PII options the line is sealed, the same bytes)
        project = project_with(
            make_project,
            {"a.jsonl": bad_json + b'\r\n{"s": "ok"}\n', "b.csv": b"s,n\n" + bad_csv + b"\nok,2\n"},
            options,
        )
        stored = project.query("SELECT id, format, reason FROM system.quarantine ORDER BY id").fetchall()
        assert [(f, r) for _, f, r in stored] == [
            ("base64:json", "invalid UTF-8"),
            ('base64:csv:["s", "n"]', "invalid UTF-8"),
        ]
        texts = [project.quarantine_record(i, decrypt=True)["raw"] for i, _, _ in stored]
        assert [base64.b64decode(t) for t in texts] == [bad_json, bad_csv]  # sealed or not
        assert accounted(project) == (4, 2, 2)
        result = project.replay_quarantine("load_events")
        assert (result.replayed, result.written) == (2, 0)
        assert project.query("SELECT count(*) FROM bronze.events").fetchall() == [(2,)]
        again = project.query(
            "SELECT format, reason FROM system.quarantine WHERE replayed_at IS NULL ORDER BY id"
        ).fetchall()
        assert again == [("base64:json", "invalid UTF-8"), ('base64:csv:["s", "n"]', "invalid UTF-8")]


def test_huge_integers_in_csv(make_project: Callable[..., hw.Project]) -> None:
    big = str(2**100)
    project = project_with(make_project, {"a.csv": f"n\n{big}\n-5\n".encode()})
    assert types(project)["n"] == "HUGEINT"
    got = project.query("SELECT n FROM bronze.events ORDER BY $source").fetchall()
    assert [Decimal(r[0]) for r in got] == [Decimal(big), Decimal(-5)]
