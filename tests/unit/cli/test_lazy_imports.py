"""The CLI answers at once because a command imports only what it uses (cli/app.py): a guard
against a module-level import that brings the engine back into ``headwater --help``.

Each command runs in a fresh interpreter, which then lists the heavy modules it imported.
Typer would coerce every option that is not a flag with pydantic: ``headwater.cli.params``
coerces Headwater's plain options without it, so no command here imports pydantic.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.cli.scaffold import init_project

# Each costs from ~0.05 s (duckdb) to ~0.25 s (pandas) to import.
HEAVY = (
    "pyarrow",
    "numpy",
    "pandas",
    "polars",
    "duckdb",
    "sqlglot",
    "sqlglot.generators.duckdb",
    "pydantic",
    "confluent_kafka",
    "psycopg",
    "psycopg2",
    "cryptography",
    "headwater.api",
    "headwater.runner.loop",
    "headwater.runner.control",  # (the deploy and state code: for DROP and ALTER JOB only)
    "headwater.sources",
    "headwater.quality",
    # the web console's (``headwater ui``), should one be imported at the top of cli/app.py
    "headwater.web",
    "starlette",
    "fastapi",
    "uvicorn",
    "jinja2",
)

_PROBE = """
import json, sys
out, sys.argv = sys.argv[1], ["headwater", *sys.argv[2:]]
from headwater.cli.app import main
try:
    main()
except SystemExit as e:
    code = e.code
else:
    code = 0
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def imported(tmp_path: Path, *args: str, cwd: Path | None = None) -> set[str]:
    """The heavy modules that ``headwater *args`` imported (it must succeed)."""
    out = tmp_path / "modules.json"
    subprocess.run([sys.executable, "-c", _PROBE, str(out), *args], cwd=cwd, check=True, capture_output=True)
    found = json.loads(out.read_text())
    assert found["code"] in (0, None), found["code"]
    return {m for m in HEAVY if m in found["modules"]}


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    assert imported(tmp_path, *args) == set()


@pytest.mark.parametrize("command", ["query", "status", "run", "quarantine", "quarantine list"])
def test_a_command_s_help_imports_nothing_heavy(tmp_path: Path, command: str) -> None:
    assert imported(tmp_path, *command.split(), "--help") == set()


def test_validate_needs_neither_duckdb_nor_pyarrow(tmp_path: Path) -> None:
    project = tmp_path / "p"
    init_project(project)
    assert imported(tmp_path, "validate", "-p", str(project)) == {
        "sqlglot",
        "sqlglot.generators.duckdb",
        "headwater.api",
    }


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project that has run once."""
    project = tmp_path_factory.mktemp("ran") / "p"
    init_project(project)
    subprocess.run(
        [sys.executable, "-m", "headwater", "run", "--once", "-p", str(project)],
        check=True,
        capture_output=True,
    )
    return project


READING = {"duckdb", "sqlglot", "sqlglot.generators.duckdb", "headwater.api"}


def test_status_reads_the_lake_without_pyarrow_pandas_or_the_runner(tmp_path: Path, ran: Path) -> None:
    assert imported(tmp_path, "status", "-p", str(ran)) <= READING
    # the files unchanged since: their jobs are listed without parsing them (headwater.listing)
    assert imported(tmp_path, "status", "-p", str(ran)) == {"duckdb", "headwater.api"}
    (ran / "more.sql").write_text("CREATE JOB copy AS INSERT INTO silver.copy SELECT * FROM bronze.orders;\n")
    try:
        assert imported(tmp_path, "status", "-p", str(ran)) == READING  # (a changed file: parsed)
    finally:
        (ran / "more.sql").unlink()


@pytest.mark.parametrize(
    "sql", ["SELECT 1", "SELECT count(*) FROM bronze.orders", "SELECT * FROM system.runs"]
)
@pytest.mark.parametrize("form", ["table", "json", "csv"])
def test_query_prints_rows_without_pyarrow_or_pandas(tmp_path: Path, ran: Path, sql: str, form: str) -> None:
    assert imported(tmp_path, "query", "-p", str(ran), "-f", form, sql) == READING
