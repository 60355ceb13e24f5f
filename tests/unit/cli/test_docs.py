"""docs/cli.md documents every command and is what scripts/gen_cli_docs.py generates."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "cli.md"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = generator()


@pytest.mark.parametrize("command", GEN.command_names())
def test_every_command_is_documented(command: str) -> None:
    headings = re.findall(r"^## headwater (\S+)$", DOC.read_text(), flags=re.M)
    assert command in headings, f"docs/cli.md has no section for `headwater {command}`"


def test_spec_commands_exist() -> None:
    names = set(GEN.command_names())
    assert {"init", "validate", "plan", "run", "query", "status", "pause", "resume", "demo"} <= names


def test_committed_docs_are_generated() -> None:
    assert DOC.read_text() == GEN.render(), "docs/cli.md is stale: run python scripts/gen_cli_docs.py"
