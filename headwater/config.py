"""``headwater.toml``: project settings, validated with pydantic."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from headwater.errors import UserError


class LakeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog: str | None = None  # default: <project>/.headwater/catalog.ducklake
    data_path: str | None = None  # default: <project>/.headwater/data
    # time travel kept; older snapshots and files are removed
    snapshot_retention_hours: Annotated[float, Field(ge=0)] = 168.0
    # every snapshot this recent is kept; older ones, the last of each hour
    snapshot_keep_all_minutes: Annotated[float, Field(ge=0)] = 10.0


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # how often `run` looks for new data
    poll_interval_seconds: Annotated[float, Field(gt=0)] = 1.0
    # most raw bytes read into one commit
    batch_bytes: Annotated[int, Field(gt=0)] = 256 * 1024 * 1024
    # how often a continuous run maintains the lake (snapshots, small files)
    maintenance_interval_seconds: Annotated[float, Field(gt=0)] = 300.0


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lake: LakeSettings = LakeSettings()
    run: RunSettings = RunSettings()


def load_settings(project_dir: Path) -> Settings:
    path = project_dir / "headwater.toml"
    if not path.exists():
        return Settings()
    text = path.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: {e}") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(p) for p in err["loc"]]
        where = f"{path}:{setting_line(text, loc)}"
        raise UserError(
            f"{where}: {'.'.join(loc)}: {err['msg']}", hint="see docs/operations.md for the settings"
        ) from None


def unwritable(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (created when missing), or None. Creates nothing."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return f"{folder} cannot be created"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def setting_line(text: str, loc: list[str]) -> int:
    """The line of ``[section] key`` in the TOML text (1 when it cannot be found)."""
    section = ""
    first = 1
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped.strip("[] ")
            if [section] == loc[:1]:
                first = number
            continue
        key = stripped.split("=", 1)[0].strip().strip("\"'")
        if "=" in stripped and [*([section] if section else []), key] == loc[:2]:
            return number
    return first
