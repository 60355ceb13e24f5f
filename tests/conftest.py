from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import headwater as hw
from tests.services.kafka import KafkaBroker, start_kafka
from tests.services.postgres import PostgresServer, start_postgres


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., hw.Project]:
    """Write SQL (and optional headwater.toml) into a fresh folder and open it as a project."""

    def make(sql: str, toml: str | None = None) -> hw.Project:
        (tmp_path / "pipeline.sql").write_text(sql)
        if toml:
            (tmp_path / "headwater.toml").write_text(toml)
        (tmp_path / "landing").mkdir(exist_ok=True)
        return hw.Project(tmp_path)

    return make


def write_jsonl(path: Path, rows: list[dict[str, object]], mode: str = "a") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode) as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """One broker for the session, its data in a temporary folder; tests may stop and restart it."""
    broker = start_kafka(tmp_path_factory.mktemp("kafka"))
    try:
        yield broker
    finally:
        broker.stop()
