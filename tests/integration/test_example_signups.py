"""examples/signups: every line accounted for, no personal data in clear, ABORT and resume."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

import headwater as hw

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "signups"


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args, "-p", str(project)], capture_output=True, text=True
    )


def personal_values(landing: Path) -> set[str]:
    values: set[str] = set()
    for path in landing.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            for key in ("email", "phone", "card", "note"):
                if record.get(key):
                    values.add(str(record[key]))
            for key in ("email", "phone"):
                if (record.get("referrer") or {}).get(key):
                    values.add(record["referrer"][key])
    return values


def test_signups_example(tmp_path: Path) -> None:
    project_dir = tmp_path / "signups"
    shutil.copytree(EXAMPLE, project_dir, ignore=shutil.ignore_patterns(".headwater"))
    ran = cli(project_dir, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    project = hw.Project(project_dir)
    runs = project.query(
        "SELECT rows_read, rows_written, rows_deduplicated, rows_dropped, rows_quarantined FROM system.runs "
        "WHERE job = 'load_signups'"
    ).fetchall()
    assert runs == [(65, 57, 3, 2, 3)]  # as the README's table says
    assert dict(project.query("SELECT expectation, violations FROM system.expectations").fetchall()) == {
        "real_customer": 2,
        "known_plan": 1,
        "has_country": 7,
        "not_in_future": 0,
    }
    reasons = sorted(r["reason"] for r in project.quarantine().rows())
    assert reasons == [
        "column monthly_fee: expected DECIMAL(8,2)",
        "expectation known_plan (QUARANTINE) failed",
        "malformed JSON",
    ]
    assert project.query("SELECT sum(signups) FROM gold.plans").fetchall() == [(57,)]
    # No personal value in clear: not in the Parquet files, the catalog, system tables or output.
    secrets = personal_values(project_dir / "data/landing")
    assert len(secrets) > 200
    texts = [ran.stdout + ran.stderr, cli(project_dir, "quarantine", "list", "--json").stdout]
    for path in (project_dir / ".headwater").rglob("*"):
        if path.suffix == ".parquet":
            texts.append(json.dumps(pq.read_table(path).to_pylist(), default=str))
        elif path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    for table in ("bronze.signups", "system.quarantine", "system.runs", "system.jobs"):
        texts.append(json.dumps(project.query(f"SELECT * FROM {table}").rows(), default=str))
    leaked = {s for s in secrets if any(s in t for t in texts)}
    assert not leaked
    # ABORT: a sign-up from the future stops the job; nothing of its batch is stored.
    with open(project_dir / "data/landing/signups-2.jsonl", "a") as f:
        f.write(
            json.dumps(
                {
                    "signup_id": 9001,
                    "signed_up_at": "2031-01-01T00:00:00Z",
                    "plan": "pro",
                    "email": "x9001@mail.example",
                }
            )
            + "\n"
        )
        f.write(
            json.dumps(
                {
                    "signup_id": 9002,
                    "signed_up_at": "2026-11-20T00:00:00Z",
                    "plan": "pro",
                    "email": "x9002@mail.example",
                }
            )
            + "\n"
        )
    stopped = cli(project_dir, "run", "--once")
    assert stopped.returncode == 1
    assert "not_in_future" in stopped.stderr and "signups-2.jsonl:33" in stopped.stderr
    assert project.query("SELECT count(*) FROM bronze.signups WHERE signup_id > 9000").fetchall() == [(0,)]
    # The fix: the collector's clock is known to be right after all; drop the check and resume.
    project.query("ALTER JOB load_signups DROP EXPECTATION not_in_future")
    assert cli(project_dir, "resume", "load_signups").returncode == 0
    assert cli(project_dir, "run", "--once").returncode == 0
    assert project.query(
        "SELECT signup_id FROM bronze.signups WHERE signup_id > 9000 ORDER BY 1"
    ).fetchall() == [
        (9001,),
        (9002,),
    ]
