"""``headwater init``: a new project that runs as it is, from the files in ``templates/``."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from headwater.errors import UserError

# template file -> where it goes in the new project
FILES = {
    "headwater.toml": "headwater.toml",
    "pipeline.sql": "pipeline.sql",
    "orders.jsonl": "data/landing/orders.jsonl",
}
# Written only when absent: a folder that already has one keeps it.
OPTIONAL = {"gitignore": ".gitignore"}


@dataclass
class Scaffold:
    root: Path
    written: list[str]
    kept: list[str]


def template(name: str) -> str:
    return (resources.files("headwater.cli") / "templates" / name).read_text(encoding="utf-8")


def init_project(root: Path) -> Scaffold:
    """Write the starter project into ``root`` (created if needed). Never overwrites a file."""
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} exists and is not a folder")
    clashes = [dest for dest in FILES.values() if (root / dest).exists()]
    if clashes:
        raise UserError(
            f"{root} already has {', '.join(clashes)}: init never overwrites files",
            hint="choose an empty folder, e.g. `headwater init my-pipeline`",
        )
    written, kept = [], []
    for name, dest in {**FILES, **OPTIONAL}.items():
        target = root / dest
        if target.exists():
            kept.append(dest)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "x", encoding="utf-8") as f:
            f.write(template(name))
        written.append(dest)
    return Scaffold(root, written, kept)
