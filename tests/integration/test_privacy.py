"""Privacy (SPEC §5.4): a value named in COLUMN_TRANSFORMATIONS or EXCLUDE_COLUMNS is never
stored or shown in clear — not in the lake's files, its catalog, any table (system tables and
the quarantine included), the command line's output or its errors — whatever shape the record
was in: clean, malformed, untypable, failing an expectation or a duplicate."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from cryptography.exceptions import InvalidTag

import headwater as hw
from headwater.observe.events import CaptureConsole
from headwater.quality.quarantine import SEALED_TEXT
from headwater.quality.secret import Sealer, salt
from tests.conftest import write_jsonl

HEADWATER = Path(sys.executable).parent / "headwater"
TRANSFORMS = """
    COLUMN_TRANSFORMATIONS = (email = HASH(email), card = MASK(card, 4),
                              customer.email = HASH(customer.email), note = REDACT(note))
    EXCLUDE_COLUMNS = (ssn, customer.phone)"""
# For the flat sources (CSV, and strict JSON records without ``customer``): a job may only name
# columns its table or data has.
TRANSFORMS_FLAT = """
    COLUMN_TRANSFORMATIONS = (email = HASH(email), card = MASK(card, 4), note = REDACT(note))
    EXCLUDE_COLUMNS = (ssn)"""
EXPECTATIONS = """
    WITH EXPECTATION positive_amount EXPECT amount > 0 ON VIOLATION QUARANTINE
    WITH EXPECTATION no_test_rows EXPECT kind <> 'test' ON VIOLATION DROP"""
PIPELINE = f"""
CREATE FILES CONNECTION landing PATH = 'landing';

CREATE TABLE bronze.customers (id BIGINT, signup DATE);
CREATE JOB load_customers
    DEDUPLICATE_WITH = (COLUMNS = (email), WINDOW = 4 HOURS)
    {TRANSFORMS}
AS COPY FROM landing PATTERN = 'json/*.jsonl' INTO bronze.customers
    {EXPECTATIONS};

CREATE TABLE bronze.customers_csv (id BIGINT, email VARCHAR, card VARCHAR, note VARCHAR, amount BIGINT,
                                   kind VARCHAR, signup DATE);
CREATE JOB load_customers_csv
    DEDUPLICATE_WITH = (COLUMNS = (id), WINDOW = 4 HOURS)
    {TRANSFORMS_FLAT}
AS COPY FROM landing PATTERN = 'csv/*.csv' INTO bronze.customers_csv
    {EXPECTATIONS};

CREATE TABLE bronze.customers_strict (id BIGINT, email VARCHAR, card VARCHAR, note VARCHAR, amount BIGINT, kind VARCHAR);
CREATE JOB load_customers_strict
    ON_SCHEMA_CHANGE = QUARANTINE
    {TRANSFORMS_FLAT}
AS COPY FROM landing PATTERN = 'strict/*.jsonl' INTO bronze.customers_strict;
"""

# The record the brief names, plus a family of distinctive values per record.
ALICE = {
    "id": 0,
    "email": "alice.pii.7f3e@example.com",
    "card": "4111-5555-9999-0001",
    "ssn": "078-05-1120",
    "note": "alice confided: diagnosis zeta-one",
    "amount": 12,
    "kind": "real",
    "signup": "2026-01-02",
    "customer": {"id": 501, "email": "alice.cust.pii.b9c1@example.org", "phone": "+1-202-555-0101"},
}


def person(i: int, *, tag: str = "ok", **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": i,
        "email": f"u{i:04d}.{tag}.pii.7f3e@example.com",
        "card": f"4111-5555-{9000 + i:04d}-{1000 + i:04d}",
        "ssn": f"078-05-{2000 + i:04d}",
        "note": f"private note {tag} {i:04d}: diagnosis zeta",
        "amount": 10 + i,
        "kind": "real",
        "signup": "2026-01-03",
        "customer": {
            "id": 500 + i,
            "email": f"c{i:04d}.{tag}.cust.pii.b9c1@example.org",
            "phone": f"+1-303-555-{i:04d}",
        },
    }
    row.update(changes)
    return row


def clear_values(row: dict[str, Any]) -> set[str]:
    """Every value of ``row`` that must never be stored or shown in clear."""
    out = set()
    for key in ("email", "card", "ssn", "note"):
        if isinstance(row.get(key), str):
            out.add(row[key])
    if isinstance(row.get("card"), str):
        out.add(row["card"][:14])  # the first 12 digits (with their dashes)
    customer = row.get("customer")
    if isinstance(customer, dict):
        out |= {v for k, v in customer.items() if k in ("email", "phone") and isinstance(v, str)}
    return out


def sha(salt_text: str, value: str) -> str:
    return hashlib.sha256((salt_text + value).encode()).hexdigest()


def masked(value: str, keep: int = 4) -> str:
    return "*" * (len(value) - keep) + value[-keep:]


# -- building the data --------------------------------------------------------------------------
@dataclass
class Inputs:
    clear: set[str] = field(default_factory=set)
    written_json: list[dict[str, Any]] = field(default_factory=list)
    written_csv: list[dict[str, Any]] = field(default_factory=list)
    written_strict: list[dict[str, Any]] = field(default_factory=list)
    quarantined_records: list[dict[str, Any]] = field(default_factory=list)  # parsed, QUARANTINE expectation
    unparseable_lines: list[bytes] = field(default_factory=list)  # sealed in the quarantine


def json_batch(inputs: Inputs, start: int, tag: str, *, duplicate_of: list[dict[str, Any]]) -> bytes:
    """Clean records, then every kind of dirty one, each carrying PII."""
    lines: list[bytes] = []

    def add(row: dict[str, Any]) -> None:
        inputs.clear |= clear_values(row)
        lines.append(json.dumps(row).encode())

    clean = [person(i, tag=tag) for i in range(start, start + 24)]
    if start == 0:
        clean[0] = ALICE
    for row in clean:
        add(row)
        inputs.written_json.append(row)
    for k in range(12):
        n = start + 100 + k
        # malformed JSON (a truncated record)
        bad = person(n, tag=tag + "-malformed")
        inputs.clear |= clear_values(bad)
        lines.append(json.dumps(bad).encode()[:-2])
        inputs.unparseable_lines.append(lines[-1])
        # not an object
        arr = person(n, tag=tag + "-array")
        inputs.clear |= clear_values(arr)
        lines.append(
            json.dumps([arr["email"], arr["ssn"], arr["card"], arr["note"], arr["customer"]]).encode()
        )
        inputs.unparseable_lines.append(lines[-1])
        # invalid UTF-8
        utf = person(n, tag=tag + "-utf8", kind="INVALID")
        inputs.clear |= clear_values(utf)
        lines.append(json.dumps(utf).encode().replace(b"INVALID", INVALID_UTF8))
        inputs.unparseable_lines.append(lines[-1])
        # a value that does not cast to a declared column type (id BIGINT, signup DATE)
        add(person(n, tag=tag + "-castid", id=f"id-{n}-not-a-number"))
        inputs.unparseable_lines.append(lines[-1])
        add(person(n, tag=tag + "-castdate", signup="2026-13-45"))
        inputs.unparseable_lines.append(lines[-1])
        # fails the QUARANTINE expectation
        q = person(n, tag=tag + "-quarantine", amount=-n)
        add(q)
        inputs.quarantined_records.append(q)
        # fails the DROP expectation
        add(person(n, tag=tag + "-drop", kind="test"))
        lines.append(b"")  # a blank line: not a record
    for row in duplicate_of:  # same email as a record already written: deduplicated
        add({**row, "id": row["id"] + 10_000, "note": f"duplicate note of {row['id']} zeta"})
    return b"\n".join(lines) + b"\n"


INVALID_UTF8 = b"r\xe9al\xff"
CSV_HEADER = "id,email,card,ssn,note,amount,kind,signup"


def csv_line(row: dict[str, Any]) -> str:
    return ",".join(f'"{row[c]}"' if c == "note" else str(row[c]) for c in CSV_HEADER.split(","))


def flat(i: int, **kw: Any) -> dict[str, Any]:
    """A record without the nested ``customer``: what a CSV line carries."""
    row = person(i, **kw)
    del row["customer"]
    return row


def csv_batch(inputs: Inputs, start: int, tag: str, *, header: bool) -> bytes:
    lines: list[bytes] = [CSV_HEADER.encode()] if header else []

    def add(row: dict[str, Any], text: str | None = None) -> None:
        inputs.clear |= clear_values(row)
        lines.append((text if text is not None else csv_line(row)).encode())

    clean = [flat(i, tag=tag) for i in range(start, start + 20)]
    for row in clean:
        add(row)
        inputs.written_csv.append(row)
    for k in range(12):
        n = start + 100 + k
        row = flat(n, tag=tag + "-width")
        add(row, csv_line(row) + ",extra field")  # wrong number of fields
        row = flat(n, tag=tag + "-quote")
        add(row, csv_line(row).replace(f'"{row["note"]}"', f'"{row["note"]}'))  # unbalanced quote
        add(flat(n, tag=tag + "-castid", id=f"x{n}"))
        add(flat(n, tag=tag + "-castdate", signup="31/31/2026"))
        q = flat(n, tag=tag + "-quarantine", amount=-n)
        add(q)
        add(flat(n, tag=tag + "-drop", kind="test"))
        row = flat(n, tag=tag + "-utf8", kind="INVALID")
        inputs.clear |= clear_values(row)
        lines.append(csv_line(row).encode().replace(b"INVALID", INVALID_UTF8))
    for row in clean[:5]:  # same id as a record already written: deduplicated
        add({**row, "email": row["email"].replace("pii", "dup.pii"), "note": "csv duplicate zeta"})
    return b"\n".join(lines) + b"\n"


def strict_batch(inputs: Inputs, start: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(start, start + 12):
        row = {
            k: v
            for k, v in person(i, tag="strict").items()
            if k in ("id", "email", "card", "note", "amount", "kind")
        }
        inputs.written_strict.append(row)
        rows.append(row)
    for i in range(start + 100, start + 112):  # a column the table does not have: quarantined whole
        row = {
            k: v
            for k, v in person(i, tag="strict-new").items()
            if k in ("id", "email", "card", "note", "amount", "kind")
        }
        row["loyalty_tier"] = "gold"
        rows.append(row)
    for row in rows:
        inputs.clear |= clear_values(row)
    return rows


# -- running and capturing ----------------------------------------------------------------------
def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HEADWATER_SECRET"}
    env.update({"NO_COLOR": "1", "COLUMNS": "200"}, **extra)
    return env


def headwater(*args: str | Path, env: dict[str, str] | None = None, expect: int = 0) -> bytes:
    """Run the installed command; returns stdout + stderr (bytes) after checking the exit code."""
    proc = subprocess.run(
        [str(HEADWATER), *[str(a) for a in args]],
        capture_output=True,
        env=env or clean_env(),
        timeout=300,
    )
    out = proc.stdout + b"\n" + proc.stderr
    assert proc.returncode == expect, out.decode(errors="replace")
    return out


@contextlib.contextmanager
def captured_python_output() -> Iterator[list[str]]:
    """stdout, stderr and every log record written while inside."""
    sink: list[str] = []
    out, err = io.StringIO(), io.StringIO()
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = lambda record: sink.append(record.getMessage())  # type: ignore[method-assign]
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield sink
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        sink.extend([out.getvalue(), err.getvalue()])


@dataclass
class Deployed:
    path: Path
    inputs: Inputs
    outputs: list[bytes]
    secret: str

    @property
    def project(self) -> hw.Project:
        return hw.Project(self.path)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HEADWATER_SECRET", raising=False)  # the project's own secret file
        yield _deploy(tmp_path_factory)


def _deploy(tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    path = tmp_path_factory.mktemp("private")
    (path / "pipeline.sql").write_text(PIPELINE)
    landing = path / "landing"
    for sub in ("json", "csv", "strict"):
        (landing / sub).mkdir(parents=True)
    inputs = Inputs()
    outputs: list[bytes] = []

    # Run 1, through the command line.
    (landing / "json/a.jsonl").write_bytes(json_batch(inputs, 0, "one", duplicate_of=[ALICE]))
    (landing / "csv/a.csv").write_bytes(csv_batch(inputs, 0, "one", header=True))
    write_jsonl(landing / "strict/a.jsonl", strict_batch(inputs, 0))
    outputs.append(headwater("validate", "-p", path))
    outputs.append(headwater("plan", "-p", path))
    outputs.append(headwater("run", "--once", "-p", path))

    # Run 2, through the Python API: new files, and duplicates of run 1's records.
    (landing / "json/b.jsonl").write_bytes(
        json_batch(inputs, 1000, "two", duplicate_of=[ALICE, inputs.written_json[5]])
    )
    with open(landing / "csv/a.csv", "ab") as f:  # the CSV file grows
        f.write(csv_batch(inputs, 1000, "two", header=False))
    write_jsonl(landing / "strict/b.jsonl", strict_batch(inputs, 1000))
    console = CaptureConsole()
    with captured_python_output() as sink:
        result = hw.Project(path, console=console).run(once=True)
        status = hw.Project(path).status()
    assert result.ok, result.failed_jobs
    outputs += [s.encode() for s in sink]
    outputs.append(repr(console.events).encode())
    outputs.append(repr(result).encode())
    outputs.append(json.dumps(status, default=str).encode())

    # Reading it back, through the command line.
    outputs.append(headwater("status", "-p", path))
    outputs.append(headwater("status", "--format", "json", "-p", path))
    every_row = " UNION ALL ".join(
        f"SELECT '{t}' AS t, to_json(x)::VARCHAR AS j FROM {t} x" for t in SHOWN_TABLES
    )
    outputs.append(headwater("query", every_row, "--format", "json", "-p", path))
    outputs.append(headwater("query", "SELECT * FROM system.quarantine", "--format", "json", "-p", path))
    outputs.append(headwater("query", "SELECT * FROM system.quarantine", "-p", path))
    outputs.append(headwater("query", "SELECT * FROM bronze.customers", "--format", "csv", "-p", path))
    secret = (path / ".headwater/secret").read_text().strip()
    return Deployed(path, inputs, outputs, secret)


SHOWN_TABLES = [
    "system.jobs",
    "system.runs",
    "system.expectations",
    "system.quarantine",
    "system.lineage",
    "system.offsets",
    "bronze.customers",
    "bronze.customers_csv",
    "bronze.customers_strict",
]


# -- scanning -----------------------------------------------------------------------------------
def strings(value: Any) -> Iterator[str]:
    """Every string inside a (nested) value; bytes decoded leniently."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", errors="replace")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings(v)
    elif value is not None:
        yield str(value)


def found_in_text(texts: Any, needles: set[str]) -> set[str]:
    blob = "\x00".join(strings(texts))
    return {n for n in needles if n in blob}


def found_in_bytes(data: bytes, needles: set[str]) -> set[str]:
    return {n for n in needles if n.encode() in data}


def lake_files(path: Path) -> list[Path]:
    return sorted(p for p in (path / ".headwater").rglob("*") if p.is_file())


def catalog_rows(path: Path) -> list[str]:
    """Every row of every table of the DuckLake catalog database (inlined data included)."""
    con = duckdb.connect(str(path / ".headwater/catalog.ducklake"), read_only=True)
    try:
        names = con.sql("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
        assert any(t.startswith("ducklake_inlined_data") for _, t in names)
        rows = []
        for schema, table in names:
            rows += [
                r[0] for r in con.sql(f'SELECT to_json(t)::VARCHAR FROM "{schema}"."{table}" t').fetchall()
            ]
        return rows
    finally:
        con.close()


def lake_table_rows(project: hw.Project) -> dict[str, list[str]]:
    """Every row of every table the lake holds (user, system and internal), as JSON text."""
    tables = project.query(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'lake'"
    ).fetchall()
    every_row = " UNION ALL ".join(
        f'SELECT \'{schema}.{table}\' AS t, to_json(x)::VARCHAR AS j FROM "{schema}"."{table}" x'
        for schema, table in tables
    )
    out: dict[str, list[str]] = {f"{schema}.{table}": [] for schema, table in tables}
    for table, row in project.query(every_row).fetchall():
        out[table].append(row)
    return out


def assert_nothing_in_clear(path: Path, project: hw.Project, outputs: list[bytes], needles: set[str]) -> None:
    files = lake_files(path)
    parquet = [p for p in files if p.suffix == ".parquet"]
    assert parquet, "expected Parquet data files to scan"
    for p in files:
        if p.name == "secret":
            continue
        leaked = found_in_bytes(p.read_bytes(), needles)
        assert not leaked, f"{p.relative_to(path)} holds {sorted(leaked)[:5]}"
    for p in parquet:
        leaked = found_in_text(pq.read_table(p).to_pylist(), needles)
        assert not leaked, f"{p.relative_to(path)} holds {sorted(leaked)[:5]}"
        metadata = pq.read_metadata(p)
        stats = [
            str(metadata.row_group(g).column(c).statistics)
            for g in range(metadata.num_row_groups)
            for c in range(metadata.num_columns)
        ]
        assert not found_in_text(stats, needles), f"{p.relative_to(path)} statistics"
    leaked = found_in_text(catalog_rows(path), needles)
    assert not leaked, f"the catalog holds {sorted(leaked)[:5]}"
    tables = lake_table_rows(project)
    assert {"system.quarantine", "system.runs", "headwater.dedupe"} <= set(tables)
    for name, rows in tables.items():
        leaked = found_in_text(rows, needles)
        assert not leaked, f"{name} holds {sorted(leaked)[:5]}"
    for out in outputs:
        leaked = found_in_bytes(out, needles) | found_in_text(out, needles)
        assert not leaked, f"output shows {sorted(leaked)[:5]}: {out[:2000]!r}"


# -- the tests ----------------------------------------------------------------------------------
def test_no_clear_value_anywhere(deployed: Deployed) -> None:
    assert len(deployed.inputs.clear) > 500
    assert "alice.pii.7f3e@example.com" in deployed.inputs.clear
    assert "4111-5555-9999" in deployed.inputs.clear and "078-05-1120" in deployed.inputs.clear
    # The scan must be able to find things: the input files hold every value in clear.
    landing = b"".join(p.read_bytes() for p in sorted((deployed.path / "landing").rglob("*.*")))
    assert found_in_bytes(landing, deployed.inputs.clear) == deployed.inputs.clear
    assert_nothing_in_clear(deployed.path, deployed.project, deployed.outputs, deployed.inputs.clear)


def test_the_secret_and_its_salt_stay_out_of_the_lake_and_the_output(deployed: Deployed) -> None:
    secret_file = deployed.path / ".headwater/secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(deployed.secret) >= 32
    needles = {deployed.secret, salt(deployed.secret)}
    assert_nothing_in_clear(deployed.path, deployed.project, deployed.outputs, needles)


def test_every_record_was_accounted_for(deployed: Deployed) -> None:
    runs = deployed.project.query(
        "SELECT job, sum(rows_read), sum(rows_written), sum(rows_deduplicated), sum(rows_dropped), "
        "sum(rows_quarantined) FROM system.runs GROUP BY job ORDER BY job"
    ).fetchall()
    # json: 2 x (24 clean + 12 x 7 dirty lines); duplicates: 1 in run 1, 2 in run 2
    # csv: 2 x (20 clean + 12 x 7 dirty + 5 duplicates); strict: 2 x (12 + 12)
    assert runs == [
        ("load_customers", 2 * 24 + 2 * 84 + 3, 48, 3, 24, 2 * 12 * 6),
        ("load_customers_csv", 2 * 109, 40, 10, 24, 2 * 12 * 6),
        ("load_customers_strict", 48, 24, 0, 0, 24),
    ]


def test_hash_mask_redact_exclude_as_specified(deployed: Deployed) -> None:
    project, key = deployed.project, salt(deployed.secret)
    types = dict(project.query("SELECT column_name, column_type FROM (DESCRIBE bronze.customers)").fetchall())
    assert "ssn" not in types
    assert types["customer"] == "STRUCT(id BIGINT, email VARCHAR)"  # phone excluded
    rows = {
        r[0]: r[1:]
        for r in project.query("SELECT id, email, card, note, customer FROM bronze.customers").fetchall()
    }
    assert set(rows) >= {r["id"] for r in deployed.inputs.written_json}
    for row in deployed.inputs.written_json:
        email, card, note, customer = rows[row["id"]]
        assert email == sha(key, row["email"])
        assert card == masked(row["card"]) and card.endswith(row["card"][-4:]) and card.startswith("*" * 15)
        assert note is None
        assert customer == {"id": row["customer"]["id"], "email": sha(key, row["customer"]["email"])}
    assert rows[0][0] == hashlib.sha256((key + "alice.pii.7f3e@example.com").encode()).hexdigest()
    assert rows[0][1] == "***************0001"

    types = dict(
        project.query("SELECT column_name, column_type FROM (DESCRIBE bronze.customers_csv)").fetchall()
    )
    assert "ssn" not in types
    rows = {
        r[0]: r[1:]
        for r in project.query("SELECT id, email, card, note FROM bronze.customers_csv").fetchall()
    }
    assert set(rows) >= {r["id"] for r in deployed.inputs.written_csv}
    for row in deployed.inputs.written_csv:
        assert rows[row["id"]] == (sha(key, row["email"]), masked(row["card"]), None)

    rows = {
        r[0]: r[1:]
        for r in project.query("SELECT id, email, card, note FROM bronze.customers_strict").fetchall()
    }
    assert set(rows) >= {r["id"] for r in deployed.inputs.written_strict}
    for row in deployed.inputs.written_strict:
        assert rows[row["id"]] == (sha(key, row["email"]), masked(row["card"]), None)


def test_quarantined_records_are_transformed_or_sealed(deployed: Deployed) -> None:
    project, key = deployed.project, salt(deployed.secret)
    sealer = Sealer(deployed.secret)
    rows = project.query(
        "SELECT job, raw, reason, format, sealed FROM system.quarantine WHERE job = 'load_customers' ORDER BY id"
    ).fetchall()
    parsed = [r for r in rows if r[2].startswith("expectation")]
    sealed_only = [r for r in rows if not r[2].startswith("expectation")]
    # Failing a QUARANTINE expectation: stored with the job's transformations applied.
    by_hash = {sha(key, q["email"]): q for q in deployed.inputs.quarantined_records}
    assert len(parsed) == len(by_hash) == 24
    for _, raw, reason, fmt, sealed in parsed:
        record = json.loads(raw)
        original = by_hash[record["email"]]
        assert reason == "expectation positive_amount (QUARANTINE) failed" and fmt == "record"
        assert "ssn" not in record and record["note"] is None
        assert record["card"] == masked(original["card"])
        assert record["customer"] == {
            "id": original["customer"]["id"],
            "email": sha(key, original["customer"]["email"]),
        }
        assert sealed.startswith("v1:")
        assert json.loads(sealer.open(sealed))["ssn"] == original["ssn"]  # readable with the secret...
        with pytest.raises(InvalidTag):  # ...and only with it
            Sealer("another-secret").open(sealed)
    # Unparseable or untypable: nothing shown, the line sealed with the project secret.
    assert len(sealed_only) == 2 * 12 * 5
    opened = set()
    for _, raw, reason, fmt, sealed in sealed_only:
        assert raw == SEALED_TEXT
        assert reason in {
            "malformed JSON",
            "not a JSON object",
            "invalid UTF-8",
            "column id: expected BIGINT",
            "column signup: expected DATE",
        }
        # A line that is not UTF-8 is sealed as the base64 of its bytes (exactly as read).
        text = sealer.open(sealed)
        opened.add(base64.b64decode(text) if fmt.startswith("base64:") else text.encode())
    expected = {line.rstrip(b"\r\n") for line in deployed.inputs.unparseable_lines}
    assert opened == expected
    # The other private jobs: nothing unparseable shown either.
    others = project.query(
        "SELECT DISTINCT raw FROM system.quarantine WHERE job <> 'load_customers' AND NOT starts_with(reason, 'expectation')"
    ).fetchall()
    assert others == [(SEALED_TEXT,)]
    strict = project.query(
        "SELECT count(*), min(reason) FROM system.quarantine WHERE job = 'load_customers_strict'"
    ).fetchall()
    assert strict == [(24, "columns not in bronze.customers_strict: loyalty_tier")]


def test_env_secret_wins_and_changes_the_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADWATER_SECRET", raising=False)
    sql = f"""
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load {TRANSFORMS} AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.people;
    """
    (tmp_path / "pipeline.sql").write_text(sql)
    first, second = person(1, tag="env"), person(2, tag="env")
    second["email"] = first["email"]
    write_jsonl(tmp_path / "landing/a.jsonl", [first])
    outputs = [headwater("run", "--once", "-p", tmp_path)]
    file_secret = (tmp_path / ".headwater/secret").read_text().strip()
    assert stat.S_IMODE((tmp_path / ".headwater/secret").stat().st_mode) == 0o600

    env_secret = "env-supplied-secret-5b2f0c7a9d1e4f3b8a6c0d2e4f6a8b0c"
    write_jsonl(tmp_path / "landing/b.jsonl", [second])
    outputs.append(headwater("run", "--once", "-p", tmp_path, env=clean_env(HEADWATER_SECRET=env_secret)))
    outputs.append(
        headwater(
            "query",
            "SELECT * FROM bronze.people",
            "--format",
            "json",
            "-p",
            tmp_path,
            env=clean_env(HEADWATER_SECRET=env_secret),
        )
    )
    hashes = dict(hw.Project(tmp_path).query("SELECT id, email FROM bronze.people").fetchall())
    assert hashes[1] == sha(salt(file_secret), first["email"])
    assert hashes[2] == sha(salt(env_secret), first["email"])
    assert hashes[1] != hashes[2]
    # The environment's secret is used, never written down: not in the secret file, nor the lake.
    assert (tmp_path / ".headwater/secret").read_text().strip() == file_secret
    needles = {env_secret, salt(env_secret), file_secret, salt(file_secret)}
    for p in lake_files(tmp_path):
        if p.name != "secret":
            assert not found_in_bytes(p.read_bytes(), needles), p
    assert not found_in_text(catalog_rows(tmp_path), needles)
    assert not found_in_text(lake_table_rows(hw.Project(tmp_path)), needles)
    assert not found_in_text(outputs, needles)


def test_a_stopped_job_names_the_record_not_its_values(tmp_path: Path) -> None:
    sql = f"""
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB guarded {TRANSFORMS} AS COPY FROM landing PATTERN = 'g/*.jsonl' INTO bronze.guarded
            WITH EXPECTATION sane EXPECT amount < 1000 ON VIOLATION ABORT;
        CREATE TABLE bronze.typed (id BIGINT);
        CREATE JOB typed ON_SCHEMA_CHANGE = FAIL {TRANSFORMS}
            AS COPY FROM landing PATTERN = 't/*.jsonl' INTO bronze.typed;
    """
    (tmp_path / "pipeline.sql").write_text(sql)
    rows = [person(i, tag="abort") for i in range(5)] + [person(5, tag="abort", amount=5000)]
    typed = [person(10, tag="fail"), person(11, tag="fail", id="eleven-not-a-number")]
    write_jsonl(tmp_path / "landing/g/a.jsonl", rows)
    write_jsonl(tmp_path / "landing/t/a.jsonl", typed)
    needles = set().union(*(clear_values(r) for r in rows + typed))
    outputs = [headwater("run", "--once", "-p", tmp_path, expect=1)]
    outputs.append(headwater("status", "--format", "json", "-p", tmp_path))
    outputs.append(headwater("run", "--once", "-p", tmp_path, expect=1))  # still stopped
    text = b"".join(outputs).decode(errors="replace")
    assert "file:landing/g/a.jsonl:6" in text  # the error names the record...
    assert "file:landing/t/a.jsonl:2" in text
    assert not found_in_text(outputs, needles)  # ...not its values
    errors = hw.Project(tmp_path).query("SELECT name, error FROM system.jobs ORDER BY name").fetchall()
    assert [e[0] for e in errors] == ["guarded", "typed"] and all(e[1] for e in errors)
    assert not found_in_text(errors, needles)
    assert not found_in_text(lake_table_rows(hw.Project(tmp_path)), needles)
    assert not found_in_text(catalog_rows(tmp_path), needles)


def _one_batch_project(tmp_path: Path, rows: list[dict[str, Any]]) -> hw.Project:
    sql = f"""
        CREATE FILES CONNECTION landing PATH = 'landing';
        CREATE JOB load {TRANSFORMS} AS COPY FROM landing PATTERN = '*.jsonl' INTO bronze.people;
    """
    (tmp_path / "pipeline.sql").write_text(sql)
    write_jsonl(tmp_path / "landing/a.jsonl", rows)
    return hw.Project(tmp_path)


def test_nested_fields_absent_from_a_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """customer.email and customer.phone are optional: a batch whose customers have neither
    is ingested as it is, and a later batch that has them is transformed. (A top-level column
    the job protects must be in the first batch: its name is checked against it.)"""
    first = {"id": 1, "email": "nested.absent.pii@example.com", "customer": {"id": 7}}
    project = _one_batch_project(tmp_path, [{**first, "card": None, "note": None, "ssn": None}])
    monkeypatch.delenv("HEADWATER_SECRET", raising=False)
    result = project.run(once=True)
    assert result.ok, result.failed_jobs
    assert project.query("SELECT id, customer.id FROM bronze.people").fetchall() == [(1, 7)]
    later = person(2, tag="nested-later")
    write_jsonl(tmp_path / "landing/b.jsonl", [later])
    result = project.run(once=True)
    assert result.ok, result.failed_jobs
    secret = (tmp_path / ".headwater/secret").read_text().strip()
    got = project.query("SELECT customer FROM bronze.people WHERE id = 2").fetchall()
    assert got[0][0]["email"] == sha(salt(secret), later["customer"]["email"])
    assert not found_in_text(
        lake_table_rows(project), clear_values(later) | {"nested.absent.pii@example.com"}
    )


def test_nested_pii_when_the_parent_is_not_always_an_object(tmp_path: Path) -> None:
    """A batch in which ``customer`` is sometimes text or a list must still not store the
    customer.email / customer.phone of the records where it is an object in clear."""
    rows = [
        person(1, tag="shape"),
        {**person(2, tag="shape"), "customer": "c0002.shape.text.pii.b9c1@example.org +1-303-555-7002"},
        {**person(3, tag="shape"), "customer": [{"email": "c0003.shape.list.pii.b9c1@example.org"}]},
    ]
    project = _one_batch_project(tmp_path, rows)
    project.run(once=True)
    needles = clear_values(rows[0])
    read, accounted = project.query(
        "SELECT sum(rows_read), sum(rows_written + rows_quarantined) FROM system.runs"
    ).fetchall()[0]
    assert read == accounted == 3
    assert not found_in_text(lake_table_rows(project), needles)
    assert not found_in_text(catalog_rows(tmp_path), needles)
