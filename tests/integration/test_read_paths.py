"""Commands that only read (``status``, ``plan``, ``quarantine list``) attach a current lake
READ_ONLY, so they run alongside another reader; a lake whose system tables are not current
is brought up to date first, as before."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from duckdb_extensions import import_extension

import headwater as hw
from headwater.cli.scaffold import init_project

_HOLD_READ_ONLY = """
import sys, time, duckdb
from duckdb_extensions import import_extension
con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
import_extension("ducklake", con=con)
con.execute("LOAD ducklake")
catalog, data = sys.argv[1], sys.argv[2]
con.execute(f"ATTACH 'ducklake:{catalog}' AS lake (DATA_PATH '{data}', READ_ONLY)")
con.execute("SELECT count(*) FROM lake.system.jobs").fetchall()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def project(tmp_path: Path) -> hw.Project:
    init_project(tmp_path / "shop")
    made = hw.Project(tmp_path / "shop")
    assert made.run(once=True).ok
    return made


def raw_lake(project: hw.Project) -> duckdb.DuckDBPyConnection:
    """The project's lake through DuckDB alone, as another program would open it."""
    con = duckdb.connect(
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    )
    import_extension("ducklake", con=con)
    con.execute("LOAD ducklake")
    con.execute(f"ATTACH 'ducklake:{project._catalog_target()}' AS lake (DATA_PATH '{project._data_path()}')")
    return con


def test_status_and_plan_read_alongside_another_reader(project: hw.Project) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_READ_ONLY, project._catalog_target(), project._data_path()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        rows = project.status()
        assert project.plan().empty
        assert project.quarantine().table.num_rows == 0
        took = time.monotonic() - started
    finally:
        holder.communicate("")
    assert {r["name"]: r["status"] for r in rows}["load_orders"] == "idle"
    assert took < 10, took  # (a writer waits for the reader: LakeBusy after 30 s)


def test_a_lake_an_older_version_wrote_is_brought_up_to_date_by_a_read(project: hw.Project) -> None:
    from headwater.lake.system_tables import TABLES_FINGERPRINT

    con = raw_lake(project)  # as before system.gaps and the fingerprint existed
    con.execute("DROP TABLE lake.system.gaps")
    con.execute("DELETE FROM lake.headwater.meta WHERE key = 'tables_fingerprint'")
    con.close()

    rows = {r["name"]: r for r in project.status()}
    assert rows["load_orders"]["rows_written"] == 5

    assert project.query("SELECT count(*) AS n FROM system.gaps").rows() == [{"n": 0}]
    meta = dict(project.query("SELECT key, value FROM lake.headwater.meta").fetchall())
    assert meta["tables_fingerprint"] == TABLES_FINGERPRINT
