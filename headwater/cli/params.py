"""Option values without pydantic: Typer (0.29) coerces every value that is not a flag through
a pydantic ``TypeAdapter`` it builds per parameter -- importing pydantic and building the
adapters costs about 0.07 s of every command's start (docs/benchmarks.md, "CLI latency").

``PlainGroup`` gives each parameter of Headwater's commands whose type is ``str``, ``Path`` or
an ``Enum`` a coercion that calls the same functions Typer's adapters call, without pydantic.
A value it does not take at once (an unknown choice, a path Typer would refuse, any other
type) goes to Typer's own coercion, which then raises Typer's own error: what a command
receives and what a wrong value prints are unchanged (``tests/unit/cli/test_params.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from typer import _click as click
from typer import _coercion, _param_types, core


@dataclass(frozen=True)
class PlainRuntimeParam(_coercion.RuntimeParam):
    """``str``, ``Path`` and ``Enum`` values as Typer's adapters coerce them; else Typer's way."""

    fallback: core._TyperParameter

    def _coerce_value(self, value: Any, param: core._TyperParameter, ctx: click.Context) -> Any:
        try:
            return plain_value(self.annotation, self.parameter_info, value, param, ctx)
        except Exception:  # (Typer's coercion raises its own error, or takes the value after all)
            pass
        return typer_coercion(self.fallback)._coerce_value(value, param=param, ctx=ctx)


class NotPlain(Exception):
    """A value that Typer's own coercion takes over."""


def plain_value(
    annotation: Any, info: Any, value: Any, param: core._TyperParameter | None, ctx: click.Context | None
) -> Any:
    """What Typer's adapter for ``annotation`` returns for ``value``; raises for anything else."""
    if info.parser is not None:
        raise NotPlain(annotation)
    if annotation is str and isinstance(value, str):
        return str(value)  # (Typer's ``_parse_cli_str``)
    if annotation is Path and isinstance(value, str | Path) and _param_types.routes_to_path(annotation, info):
        path = value if isinstance(value, Path) else Path(value)
        return _param_types.coerce_cli_path(path, info, path_type=Path, param=param, ctx=ctx)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _param_types.coerce_cli_choice(
            value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx
        )
    raise NotPlain(annotation)


def typer_coercion(param: core._TyperParameter) -> _coercion.RuntimeParam:
    return _coercion.build_runtime_param(param.type_descriptor)


def plain_params(command: click.Command, ctx: click.Context) -> None:
    """Give ``command``'s plain parameters (its help option too) the coercion without pydantic."""
    for param in command.get_params(ctx):
        if not isinstance(param, core._TyperParameter) or param._runtime_param is not None:
            continue
        descriptor = param.type_descriptor
        if descriptor.file_annotation is not None:
            continue
        param._runtime_param = PlainRuntimeParam(
            parameter_info=descriptor.parameter_info, annotation=descriptor.annotation, fallback=param
        )


class PlainGroup(core.TyperGroup):
    """A Typer group whose commands coerce plain values without pydantic (``PlainRuntimeParam``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        plain_params(self, ctx)
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            plain_params(command, ctx)
        return name, command, rest
