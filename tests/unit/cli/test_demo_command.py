"""`headwater demo` prints each answer as a table, then what to try next."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import headwater.demo as demo
from headwater.api import Result
from headwater.cli.app import app
from headwater.errors import JobFailed
from headwater.observe.events import BatchCommitted


def test_prints_answers_and_next_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def fake_run_demo(target: Path, console: Any) -> list[tuple[str, Result]]:
        calls.append(target)
        console.emit(BatchCommitted("load_orders", 1, 10, 10, 1, 100, 0.1))
        return [
            ("Revenue per day", Result(pa.table({"day": ["2026-01-05"], "revenue_eur": [12.5]}))),
            ("Top customers", Result(pa.table({"name": ["Ada"], "orders": [3]}))),
        ]

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    result = CliRunner().invoke(app, ["demo", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert calls == [tmp_path / "d"]
    out = result.stdout
    assert out.index("Revenue per day") < out.index("12.5") < out.index("Top customers") < out.index("Ada")
    assert "try next" in out
    assert f"headwater status -p {tmp_path / 'd'}" in out
    assert "load_orders: committed 10 rows" in result.stderr


def test_a_failed_demo_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(target: Path, console: Any) -> list[tuple[str, Result]]:
        raise JobFailed("the demo pipeline failed: x: boom", hint="see `headwater status`")

    monkeypatch.setattr(demo, "run_demo", failing)
    result = CliRunner().invoke(app, ["demo", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the demo pipeline failed: x: boom")
