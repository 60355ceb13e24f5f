"""``headwater.toml``: project settings, validated with pydantic."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from headwater.errors import UserError


class LakeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog: str | None = None  # default: <project>/.headwater/catalog.ducklake
    data_path: str | None = None  # default: <project>/.headwater/data
    snapshot_retention_hours: float = 168.0  # time travel kept; older snapshots and files are removed


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    poll_interval_seconds: float = 1.0  # how often `run` looks for new data
    batch_bytes: int = 256 * 1024 * 1024  # most raw bytes read into one commit
    maintenance_interval_seconds: float = 3600.0  # how often a continuous run compacts the lake


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lake: LakeSettings = LakeSettings()
    run: RunSettings = RunSettings()


def load_settings(project_dir: Path) -> Settings:
    path = project_dir / "headwater.toml"
    if not path.exists():
        return Settings()
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: {e}") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise UserError(f"{path}: {problems}", hint="see docs/operations.md for the settings") from None
