"""The documentation is executable: its SQL parses, the getting-started walk-through runs and
answers what the page shows, its links resolve, and docs/operations.md lists exactly the
settings of headwater.toml.

Markers, each an HTML comment on the line just before a fenced block:
  <!-- no-test -->         an sql block that is intentionally partial (not parsed)
  <!-- file: PATH -->      the block is the content of PATH in the walk-through's project
  <!-- no-run -->          a console block that the walk-through does not run
  <!-- output varies -->   a console block whose output (times, durations) is not compared
  <!-- python-output -->   what the python block just before prints
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import headwater as hw
from headwater.cli.app import app
from headwater.config import setting_keys, validated
from headwater.dialect import parse

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GETTING_STARTED = DOCS / "getting-started.md"
OPERATIONS = DOCS / "operations.md"

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<marker>.*?)\s*-->\s*$")


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: str | None

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def doc_files() -> list[Path]:
    return [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, in order, with the marker just before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent = opening.group("indent")
        before = _MARKER.match(lines[i - 1]) if i else None
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        assert j < len(lines), f"{path.relative_to(ROOT)}:{i + 1}: unclosed code block"
        marker = before.group("marker") if before else None
        found.append(Block(path, i + 1, opening.group("lang"), "\n".join(body), marker))
        i = j + 1
    return found


# -- (a) every sql block parses -------------------------------------------------------------
SQL_BLOCKS = [b for path in doc_files() for b in blocks(path) if b.lang == "sql"]


@pytest.mark.parametrize("block", [b for b in SQL_BLOCKS if b.marker != "no-test"], ids=str)
def test_sql_block_parses(block: Block) -> None:
    statements = parse(block.text, file=str(block))
    assert statements, f"{block}: no statement"


def test_sql_blocks_are_found_and_rarely_skipped() -> None:
    assert len(SQL_BLOCKS) >= 20
    skipped = [str(b) for b in SQL_BLOCKS if b.marker == "no-test"]
    assert len(skipped) <= 2, skipped


# -- (b) the getting-started walk-through runs for real --------------------------------------
@dataclass
class Command:
    argv: list[str]
    expected: list[str]


def commands(block: Block) -> list[Command]:
    out: list[Command] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            out.append(Command(shlex.split(line[2:]), []))
        else:
            assert out, f"{block}: output before the first command"
            out[-1].expected.append(line)
    return out


def header_cells(lines: list[str]) -> list[str]:
    header = next((line for line in lines if line.startswith("┃")), "")
    return [cell.strip() for cell in header.strip("┃").split("┃")]


def run_command(block: Block, command: Command, project: Path, cli: CliRunner) -> None:
    argv = command.argv
    if argv[0] != "headwater":
        return  # mkdir, cd: the test works in the project folder throughout
    where = f"{block}: {shlex.join(argv)}"
    if argv[1:] == ["run", "--once"]:
        result = hw.Project(project).run(once=True)
        assert result.ok, f"{where}: {result.failed_jobs}"
        return
    assert argv[1] in ("validate", "plan", "query", "status"), f"{where}: mark the block <!-- no-run -->"
    ran = cli.invoke(app, [*argv[1:], "-p", str(project)])
    assert ran.exit_code == 0, f"{where}\n{ran.output}"
    got = [line.rstrip() for line in ran.stdout.splitlines()]
    expected = [line.rstrip() for line in command.expected]
    if block.marker == "output varies":
        assert header_cells(got) == header_cells(expected), where
    else:
        assert got == expected, where


def test_getting_started_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    cli = CliRunner()
    written: list[str] = []
    queries = 0
    python_ran = False
    walk = blocks(GETTING_STARTED)
    for i, block in enumerate(walk):
        marker = block.marker or ""
        if marker.startswith("file:"):
            name = marker.removeprefix("file:").strip()
            target = project / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text + "\n", encoding="utf-8")
            written.append(name)
        elif block.lang == "console" and marker != "no-run":
            for command in commands(block):
                run_command(block, command, project, cli)
                queries += command.argv[:2] == ["headwater", "query"]
        elif block.lang == "python":
            following = walk[i + 1] if i + 1 < len(walk) else None
            assert following is not None and following.marker == "python-output", f"{block}: no output shown"
            monkeypatch.chdir(project)
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(block.text, str(block), "exec"), {"__name__": "getting_started"})
            assert printed.getvalue().splitlines() == following.text.splitlines(), str(block)
            python_ran = True
    assert sorted(written) == [
        "data/landing/orders/2026-01-05.jsonl",
        "data/landing/orders/2026-01-06.jsonl",
        "data/landing/orders/2026-01-07.jsonl",
        "gold.sql",
        "silver.sql",
        "sources.sql",
    ]
    assert queries >= 6 and python_ran


# -- (c) headwater.toml: the documented settings are exactly the real ones --------------------
def toml_keys(data: dict[str, object], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in data.items():
        if isinstance(value, dict):
            keys |= toml_keys(value, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_operations_documents_exactly_the_settings() -> None:
    documented: set[str] = set()
    toml_blocks = [b for b in blocks(OPERATIONS) if b.lang == "toml"]
    assert toml_blocks
    for block in toml_blocks:
        data = tomllib.loads(block.text)
        validated(data)  # every example is a valid headwater.toml
        documented |= toml_keys(data)
    real = setting_keys()
    assert documented == real
    text = OPERATIONS.read_text(encoding="utf-8")
    for key in sorted(real):
        section, _, name = key.partition(".")
        assert f"`[{section}] {name}`" in text, f"docs/operations.md has no reference row for {key}"


# -- links between the documents resolve -----------------------------------------------------
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$")


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
        match = None if inside else _HEADING.match(line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group("title").lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(path: Path) -> None:
    for match in _LINK.finditer(path.read_text(encoding="utf-8")):
        target = match.group("target")
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.relative_to(ROOT)}: broken link {target}"
        if anchor:
            assert anchor in anchors(linked), (
                f"{path.relative_to(ROOT)}: no heading for #{anchor} in {file or 'itself'}"
            )
