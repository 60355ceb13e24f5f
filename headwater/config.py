"""``headwater.toml``: project settings.

The settings are plain dataclasses; a ``headwater.toml`` that sets something is validated
with pydantic models made from them (``_schema``), only then: a project without settings,
like most, never imports pydantic for them nor builds the models (~20 ms of every command;
docs/benchmarks.md, "CLI latency").
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.errors import UserError


def _bound(default: float, **bounds: float) -> Any:
    """A setting with a default and pydantic's bounds (``ge``, ``gt``...)."""
    return field(default=default, metadata=bounds)


@dataclass(frozen=True)
class LakeSettings:
    catalog: str | None = None  # default: <project>/.headwater/catalog.ducklake
    data_path: str | None = None  # default: <project>/.headwater/data
    # time travel kept; older snapshots and files are removed
    snapshot_retention_hours: float = _bound(168.0, ge=0)
    # every snapshot this recent is kept; older ones, the last of each hour
    snapshot_keep_all_minutes: float = _bound(10.0, ge=0)


@dataclass(frozen=True)
class RunSettings:
    # how often `run` looks for new data
    poll_interval_seconds: float = _bound(1.0, gt=0)
    # most raw bytes read into one commit
    batch_bytes: int = _bound(128 * 1024 * 1024, gt=0)
    # how often a continuous run maintains the lake (snapshots, small files)
    maintenance_interval_seconds: float = _bound(300.0, gt=0)


@dataclass(frozen=True)
class Settings:
    lake: LakeSettings = field(default_factory=LakeSettings)
    run: RunSettings = field(default_factory=RunSettings)


def _section(kind: Any) -> bool:
    """A field that is a table of settings (``[lake]``, ``[run]``), not a setting."""
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def setting_keys(cls: type[Any] = Settings, prefix: str = "") -> set[str]:
    """Every setting's ``section.name``."""
    keys: set[str] = set()
    for f in dataclasses.fields(cls):
        kind = typing.get_type_hints(cls)[f.name]
        if _section(kind):
            keys |= setting_keys(kind, f"{prefix}{f.name}.")
        else:
            keys.add(prefix + f.name)
    return keys


@functools.cache
def _schema(cls: type[Any]) -> Any:
    """The pydantic model of a settings dataclass: its fields, defaults and bounds, no other key."""
    from pydantic import ConfigDict, Field, create_model

    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind = typing.get_type_hints(cls)[f.name]
        if _section(kind):
            fields[f.name] = (_schema(kind), Field(default_factory=_schema(kind)))
        else:
            fields[f.name] = (kind, Field(default=f.default, **f.metadata))
    return create_model(cls.__name__, __config__=ConfigDict(extra="forbid"), **fields)


def _from_model(cls: type[Any], model: Any) -> Any:
    values = {}
    for f in dataclasses.fields(cls):
        kind = typing.get_type_hints(cls)[f.name]
        value = getattr(model, f.name)
        values[f.name] = _from_model(kind, value) if _section(kind) else value
    return cls(**values)


def _sets_nothing(raw: dict[str, Any]) -> bool:
    """Only empty sections, if any (``headwater init`` writes every setting commented out)."""
    sections = {f.name for f in dataclasses.fields(Settings)}
    return all(name in sections and value == {} for name, value in raw.items())


def validated(raw: dict[str, Any]) -> Settings:
    """``Settings`` from a parsed ``headwater.toml``; pydantic's ``ValidationError`` when a key
    is unknown or a value is not allowed."""
    if _sets_nothing(raw):
        return Settings()
    return typing.cast(Settings, _from_model(Settings, _schema(Settings).model_validate(raw)))


def load_settings(project_dir: Path) -> Settings:
    path = project_dir / "headwater.toml"
    if not path.exists():
        return Settings()
    text = path.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: {e}") from None
    if _sets_nothing(raw):
        return Settings()
    from pydantic import ValidationError

    try:
        return validated(raw)
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
