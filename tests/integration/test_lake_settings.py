"""headwater.toml can put the catalog in PostgreSQL and the data elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import headwater as hw
from tests.conftest import write_jsonl
from tests.services.postgres import PostgresServer

SQL = """
CREATE FILES CONNECTION landing PATH = 'landing';
CREATE JOB load AS COPY FROM landing INTO bronze.events;
CREATE JOB agg RUN_INTERVAL = 1 MINUTE AS INSERT INTO silver.kinds
SELECT kind, count(*) AS n FROM bronze.events WHERE $commit_time BETWEEN run_start_time() AND run_end_time() GROUP BY kind;
"""


def test_postgres_catalog_and_separate_data_path(
    make_project: Callable[..., hw.Project], postgres: PostgresServer, tmp_path_factory: object
) -> None:
    dsn = postgres.create_database("hw_catalog")
    data = Path(str(tmp_path_factory.mktemp("lakedata")))  # type: ignore[attr-defined]
    project = make_project(SQL, toml=f'[lake]\ncatalog = "{dsn}"\ndata_path = "{data}"\n')
    write_jsonl(project.path / "landing/e.jsonl", [{"id": i, "kind": f"k{i % 3}"} for i in range(3000)])
    assert project.run(once=True).ok
    assert project.query("SELECT count(*) FROM bronze.events").fetchall() == [(3000,)]
    assert project.query("SELECT sum(n) FROM silver.kinds").fetchall() == [(3000,)]
    # The catalog is in PostgreSQL, the Parquet files under data_path, nothing in .headwater but the lock.
    tables = postgres.psql(
        "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'ducklake_%'", "hw_catalog"
    )
    assert int(tables) > 5
    assert list(data.rglob("*.parquet")) or int(
        postgres.psql("SELECT count(*) FROM ducklake_inlined_data_tables", "hw_catalog")
    )
    assert not (project.path / ".headwater" / "catalog.ducklake").exists()
    # A second run resumes from the positions kept in PostgreSQL.
    write_jsonl(project.path / "landing/e.jsonl", [{"id": 3000, "kind": "k0"}])
    assert hw.Project(project.path).run(once=True).ok
    assert project.query("SELECT count(*), count(DISTINCT id) FROM bronze.events").fetchall() == [
        (3001, 3001)
    ]


def test_a_moved_project_keeps_its_lake(make_project: Callable[..., hw.Project], tmp_path: Path) -> None:
    import shutil

    project = make_project(SQL)
    write_jsonl(project.path / "landing/e.jsonl", [{"id": i, "kind": "k"} for i in range(10)])
    assert project.run(once=True).ok
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    shutil.move(str(tmp_path), moved)
    again = hw.Project(moved)
    assert again.query("SELECT count(*) FROM bronze.events").fetchall() == [(10,)]
    write_jsonl(moved / "landing/e.jsonl", [{"id": 10, "kind": "k"}])
    assert again.run(once=True).ok
    assert again.query("SELECT count(*), count(DISTINCT id) FROM bronze.events").fetchall() == [(11, 11)]
