"""Accounting (SPEC §5.2, §5.5), property-based: random batches of records, randomly dirtied,
land as JSON lines or CSV files over one or two runs. For every run, rows read = written +
deduplicated + dropped + quarantined, and each term equals what a model of the input predicts;
the quarantine holds exactly the unreadable records and those failing a QUARANTINE expectation,
each with its ``$source`` and raw text; the expectation counts match; a run with no new input
reads nothing."""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import headwater as hw
from headwater.lake import Lake

EXPECTATIONS = """
    WITH EXPECTATION non_negative EXPECT amount >= 0 ON VIOLATION QUARANTINE
    WITH EXPECTATION not_dropped EXPECT kind <> 'drop' ON VIOLATION DROP
    WITH EXPECTATION no_warning EXPECT note <> 'warn' ON VIOLATION WARN"""
# (name, action, the model's flag), in declaration order: the order reasons are listed in.
DECLARED = [("non_negative", "QUARANTINE", "q"), ("not_dropped", "DROP", "d"), ("no_warning", "WARN", "w")]


def pipeline(pattern: str) -> str:
    return f"""
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE TABLE bronze.events (id BIGINT, day DATE, amount BIGINT);
        CREATE JOB load DEDUPLICATE_WITH = (COLUMNS = (id), WINDOW = 1 DAY)
        AS COPY FROM landing PATTERN = '{pattern}' INTO bronze.events
        {EXPECTATIONS};
    """


# -- the model ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """One line of input and what it should become."""

    text: bytes  # without its line ending
    kind: str  # record | blank | unreadable
    reason: str = ""  # for unreadable lines: the quarantine's reason
    values: dict[str, Any] | None = None  # for records: the values as typed and stored
    q: bool = False  # violates the QUARANTINE expectation
    d: bool = False  # ... the DROP one
    w: bool = False  # ... the WARN one

    @property
    def key(self) -> int | None:
        return None if self.values is None else self.values.get("id")


@dataclass
class Model:
    read: int = 0
    written: int = 0
    deduplicated: int = 0
    dropped: int = 0
    quarantined: int = 0
    violations: Counter[str] = field(default_factory=Counter)
    seen: set[int] = field(default_factory=set)  # keys written (all within the window)
    quarantine: dict[str, tuple[Line, str]] = field(default_factory=dict)  # $source -> line, reason
    written_sources: set[str] = field(default_factory=set)
    lines: dict[str, int] = field(default_factory=dict)  # file -> lines so far

    def feed(self, partition: str, lines: list[Line], first_line: int) -> None:
        for n, line in enumerate(lines, start=first_line):
            source = f"file:{partition}:{n}"
            if line.kind == "blank":
                continue
            self.read += 1
            if line.kind == "unreadable":
                self.quarantined += 1
                self.quarantine[source] = (line, line.reason)
                continue
            for name, _, flag in DECLARED:
                if getattr(line, flag):
                    self.violations[name] += 1
            if line.q:
                self.quarantined += 1
                reason = "; ".join(
                    f"expectation {name} ({action}) failed"
                    for name, action, flag in DECLARED
                    if getattr(line, flag)
                )
                self.quarantine[source] = (line, reason)
            elif line.d:
                self.dropped += 1
            elif line.key is not None and line.key in self.seen:
                self.deduplicated += 1
            else:
                self.written += 1
                self.written_sources.add(source)
                if line.key is not None:
                    self.seen.add(line.key)


# -- strategies ---------------------------------------------------------------------------------
KEYS = st.integers(0, 40)
DAYS = st.dates(date(2020, 1, 1), date(2030, 12, 31))
AMOUNTS = st.integers(-5, 60)
KINDS = st.sampled_from(["keep", "drop"])
NOTES = st.sampled_from(["plain", "warn", "other words"])
BAD_IDS: list[Any] = ["abc", "12x", "7 apples", {"a": 1}, [1, 2]]
BAD_DAYS = ["2026-02-30", "notadate", "2026-13-01", "yesterday"]


@st.composite
def json_record(draw: st.DrawFn) -> Line:
    key = draw(st.one_of(st.none(), KEYS))
    values = {
        "id": key,
        "day": draw(DAYS).isoformat(),
        "amount": draw(AMOUNTS),
        "kind": draw(KINDS),
        "note": draw(NOTES),
    }
    shown: dict[str, Any] = dict(values)
    if key is None and draw(st.booleans()):
        del shown["id"]  # a missing key reads as NULL
    elif key is not None and draw(st.booleans()):
        shown["id"] = str(key)  # an integer written as text still casts
    flags = {"q": values["amount"] < 0, "d": values["kind"] == "drop", "w": values["note"] == "warn"}
    fault = draw(st.sampled_from(["none"] * 6 + ["id", "day"]))
    if fault == "id":
        shown["id"] = draw(st.sampled_from(BAD_IDS))
        return Line(json.dumps(shown).encode(), "unreadable", "column id: expected BIGINT")
    if fault == "day":
        shown["day"] = draw(st.sampled_from(BAD_DAYS))
        return Line(json.dumps(shown).encode(), "unreadable", "column day: expected DATE")
    return Line(json.dumps(shown).encode(), "record", values=values, **flags)


JSON_DIRT = st.one_of(
    st.sampled_from([b"", b"   ", b"\t", b"\r"]).map(lambda t: Line(t, "blank")),
    st.sampled_from(
        [b'{"id": 1,', b'{"id": ', b"{bad json}", b"nope", b'{"id": 3, "note": "x"', b'{"a":1}}']
    ).map(lambda t: Line(t, "unreadable", "malformed JSON")),
    st.sampled_from([b"[1, 2]", b'"text"', b"42", b"null", b"true", b"[]", b'[{"id": 1}]']).map(
        lambda t: Line(t, "unreadable", "not a JSON object")
    ),
    st.sampled_from(
        [b'{"id": 5, "note": "caf\xe9"}', b'\xff\xfe{"id": 1}', b'{"id": 2, "kind": "\xc3\x28"}']
    ).map(lambda t: Line(t, "unreadable", "invalid UTF-8")),
)
JSON_LINES = st.one_of(json_record(), json_record(), json_record(), JSON_DIRT)

CSV_HEADER = "id,day,amount,kind,note"
CSV_NOTES = {"plain": "plain", "warn": "warn", '"pl,ain"': "pl,ain", '"say ""hi"""': 'say "hi"'}


@st.composite
def csv_record(draw: st.DrawFn) -> Line:
    key = draw(st.one_of(st.none(), KEYS))
    note_text = draw(st.sampled_from(sorted(CSV_NOTES)))
    values = {
        "id": key,
        "day": draw(DAYS).isoformat(),
        "amount": draw(AMOUNTS),
        "kind": draw(KINDS),
        "note": CSV_NOTES[note_text],
    }
    fields = [
        "" if key is None else str(key),
        values["day"],
        str(values["amount"]),
        values["kind"],
        note_text,
    ]
    flags = {"q": values["amount"] < 0, "d": values["kind"] == "drop", "w": values["note"] == "warn"}
    fault = draw(st.sampled_from(["none"] * 6 + ["id", "day", "width", "quote", "utf8"]))
    if fault == "id":
        fields[0] = draw(st.sampled_from(["abc", "12x", "7 apples"]))
        return Line(",".join(fields).encode(), "unreadable", "column id: expected BIGINT")
    if fault == "day":
        fields[1] = draw(st.sampled_from(BAD_DAYS))
        return Line(",".join(fields).encode(), "unreadable", "column day: expected DATE")
    if fault == "width":
        fields = draw(st.sampled_from([fields[:-1], [*fields, "extra"], [*fields, "", ""]]))
        return Line(",".join(fields).encode(), "unreadable", f"expected 5 fields, got {len(fields)}")
    if fault == "quote":
        fields[4] = draw(st.sampled_from(['"plain', 'pl"ain', '"a""b']))
        return Line(",".join(fields).encode(), "unreadable", "unbalanced quotes")
    if fault == "utf8":
        return Line(",".join(fields[:4]).encode() + b",caf\xe9", "unreadable", "invalid UTF-8")
    return Line(",".join(fields).encode(), "record", values=values, **flags)


CSV_LINES = st.one_of(csv_record(), st.just(Line(b"", "blank")))

# Runs of files: each run writes some lines to some files (a.*, b.*, c.*), new or growing.
FILES = st.sampled_from(["a", "b", "c"])


def stages(lines: st.SearchStrategy[Line]) -> st.SearchStrategy[list[dict[str, list[Line]]]]:
    return st.lists(st.dictionaries(FILES, st.lists(lines, max_size=30), max_size=3), min_size=1, max_size=2)


BATCH_BYTES = st.sampled_from([400, 1500, 1 << 20])


# -- checking -----------------------------------------------------------------------------------
def check(project: hw.Project, model: Model) -> None:
    with project.open_lake() as lake:
        _check(lake, model)


def _check(lake: Lake, model: Model) -> None:
    runs = lake.fetchall(
        "SELECT run_id, rows_read, rows_written, rows_deduplicated, rows_dropped, rows_quarantined "
        "FROM lake.system.runs WHERE job = 'load' ORDER BY run_id"
    )
    for run_id, read, written, dedup, dropped, quarantined in runs:
        assert read == written + dedup + dropped + quarantined, f"run {run_id}"
    totals = tuple(sum(r[i] for r in runs) for i in range(1, 6))
    assert totals == (model.read, model.written, model.deduplicated, model.dropped, model.quarantined)

    rows = lake.fetchall('SELECT "$source", id FROM lake.bronze.events')
    assert {r[0] for r in rows} == model.written_sources
    assert len(rows) == model.written
    ids = [r[1] for r in rows if r[1] is not None]
    assert len(ids) == len(set(ids)), "a key was written twice within its window"

    quarantine = lake.fetchall('SELECT "$source", raw, reason, job FROM lake.system.quarantine ORDER BY id')
    got = {r[0]: (r[1], r[2]) for r in quarantine}
    assert len(got) == len(quarantine), "one quarantine entry per record"
    assert {r[3] for r in quarantine} <= {"load"}
    assert set(got) == set(model.quarantine)
    for source, (line, reason) in model.quarantine.items():
        raw, got_reason = got[source]
        assert got_reason == reason, source
        if line.kind == "unreadable" and reason == "invalid UTF-8":  # its bytes, in base64
            assert base64.b64decode(raw) == line.text.rstrip(b"\r"), source
        elif line.kind == "unreadable":
            assert raw == line.text.decode().rstrip("\r"), source
        else:  # a parsed record failing a QUARANTINE expectation: its values, as JSON
            stored = {k: v for k, v in json.loads(raw).items() if v is not None}
            assert stored == {k: v for k, v in (line.values or {}).items() if v is not None}, source

    expectations = lake.fetchall(
        "SELECT expectation, action, sum(violations), count(DISTINCT run_id) FROM lake.system.expectations "
        "WHERE job = 'load' GROUP BY ALL ORDER BY 1"
    )
    if runs:
        assert expectations == sorted(
            (name, action, model.violations[name], len(runs)) for name, action, _ in DECLARED
        )
    else:
        assert expectations == []


def run_stages(
    path: Path, sql: str, ext: str, plan: list[dict[str, list[Line]]], batch_bytes: int, header: bytes = b""
) -> None:
    (path / "pipeline.sql").write_text(sql)
    (path / "headwater.toml").write_text(f"[run]\nbatch_bytes = {batch_bytes}\n")
    (path / "landing").mkdir()
    project = hw.Project(path)
    model = Model()
    for stage in plan:
        for name in sorted(stage):
            lines = stage[name]
            partition = f"landing/{name}.{ext}"
            first = model.lines.get(partition, 0)
            with open(path / partition, "ab") as f:
                if first == 0 and header:
                    f.write(header + b"\n")
                    first = 1
                f.write(b"".join(line.text + b"\n" for line in lines))
            model.feed(partition, lines, first + 1)
            model.lines[partition] = first + len(lines)
        result = project.run(once=True)
        assert result.ok, result.failed_jobs
    # Nothing new: nothing read, no run recorded.
    before = project.query("SELECT count(*), coalesce(sum(rows_read), 0) FROM system.runs").fetchall()
    result = project.run(once=True)
    assert result.ok and result.rows_written == 0
    assert project.query("SELECT count(*), coalesce(sum(rows_read), 0) FROM system.runs").fetchall() == before
    check(project, model)


def json_line(key: int | None, amount: int = 1, kind: str = "keep", note: str = "plain") -> Line:
    values = {"id": key, "day": "2026-01-02", "amount": amount, "kind": kind, "note": note}
    flags = {"q": amount < 0, "d": kind == "drop", "w": note == "warn"}
    return Line(json.dumps(values).encode(), "record", values=values, **flags)


def csv_line(key: int | None, amount: int = 1, kind: str = "keep", note: str = "plain") -> Line:
    values = {"id": key, "day": "2026-01-02", "amount": amount, "kind": kind, "note": note}
    flags = {"q": amount < 0, "d": kind == "drop", "w": note == "warn"}
    text = ",".join(["" if key is None else str(key), "2026-01-02", str(amount), kind, note])
    return Line(text.encode(), "record", values=values, **flags)


def budget(examples: int) -> settings:
    """Each example is a fresh project and a few runs: a handful keeps the file near a minute."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@budget(8)
@given(plan=stages(JSON_LINES), batch_bytes=BATCH_BYTES)
# More keys than fit in one inlined insert, then a duplicate: in a later run, and in a later commit.
@example(plan=[{"a": [json_line(k) for k in range(30)]}, {"b": [json_line(3)]}], batch_bytes=1 << 20)
@example(plan=[{"a": [json_line(k) for k in range(30)] + [json_line(3)]}], batch_bytes=400)
@example(plan=[{"a": [Line(b"", "blank"), Line(b"  ", "blank")]}, {"a": [json_line(1)]}], batch_bytes=400)
def test_json_lines_are_accounted_for(
    tmp_path_factory: pytest.TempPathFactory, plan: list[dict[str, list[Line]]], batch_bytes: int
) -> None:
    path = tmp_path_factory.mktemp("json")
    run_stages(path, pipeline("*.jsonl"), "jsonl", plan, batch_bytes)


@budget(6)
@given(plan=stages(CSV_LINES), batch_bytes=BATCH_BYTES)
@example(plan=[{"a": [csv_line(k) for k in range(30)]}, {"a": [csv_line(3)]}], batch_bytes=1 << 20)
def test_csv_lines_are_accounted_for(
    tmp_path_factory: pytest.TempPathFactory, plan: list[dict[str, list[Line]]], batch_bytes: int
) -> None:
    path = tmp_path_factory.mktemp("csv")
    run_stages(path, pipeline("*.csv"), "csv", plan, batch_bytes, header=CSV_HEADER.encode())


def test_csv_types_are_inferred_for_many_columns(tmp_path: Path) -> None:
    """Every undeclared CSV column gets the narrowest type its values fit, however many there are."""
    (tmp_path / "pipeline.sql").write_text(
        """CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load AS COPY FROM landing PATTERN = '*.csv' INTO bronze.wide;"""
    )
    (tmp_path / "landing").mkdir()
    header = ["t1", "n1", "t2", "d1", "n2", "f1", "t3", "b1"]
    lines = [",".join(header)] + [
        f"text{i},{i},more{i},2026-01-{i + 1:02d},{i * 10},{i}.5,x{i},{'true' if i % 2 else 'false'}"
        for i in range(5)
    ]
    (tmp_path / "landing/wide.csv").write_text("\n".join(lines) + "\n")
    project = hw.Project(tmp_path)
    result = project.run(once=True)
    assert result.ok, result.failed_jobs
    assert project.query("SELECT rows_read, rows_written FROM system.runs").fetchall() == [(5, 5)]
    types = dict(project.query("SELECT column_name, column_type FROM (DESCRIBE bronze.wide)").fetchall())
    assert {c: types[c] for c in header} == {
        "t1": "VARCHAR",
        "n1": "BIGINT",
        "t2": "VARCHAR",
        "d1": "DATE",
        "n2": "BIGINT",
        "f1": "DOUBLE",
        "t3": "VARCHAR",
        "b1": "BOOLEAN",
    }


def test_text_that_is_not_an_integer_is_not_rounded_into_a_bigint(tmp_path: Path) -> None:
    """A value that does not fit a declared BIGINT column is quarantined, not changed."""
    (tmp_path / "pipeline.sql").write_text(
        """CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE TABLE bronze.j (id BIGINT);
        CREATE TABLE bronze.c (id BIGINT);
        CREATE JOB load_j AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.j;
        CREATE JOB load_c AS COPY FROM landing PATTERN = '*.csv' INTO bronze.c;"""
    )
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing/a.jsonl").write_text('{"id": "7"}\n{"id": "1.5"}\n')
    (tmp_path / "landing/a.csv").write_text("id\n7\n1.5\n")
    project = hw.Project(tmp_path)
    assert project.run(once=True).ok
    assert project.query("SELECT id FROM bronze.j").fetchall() == [(7,)]
    assert project.query("SELECT id FROM bronze.c").fetchall() == [(7,)]
    assert project.query('SELECT "$source", raw, reason FROM system.quarantine ORDER BY 1').fetchall() == [
        ("file:landing/a.csv:3", "1.5", "column id: expected BIGINT"),
        ("file:landing/a.jsonl:2", '{"id": "1.5"}', "column id: expected BIGINT"),
    ]
