"""Headwater's commands coerce their ``str``, ``Path`` and choice values without pydantic
(``headwater.cli.params``): every value must come out as Typer's own coercion makes it, and
every value Typer refuses must be refused with Typer's message."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer import _click as click
from typer import core
from typer.main import get_command
from typer.testing import CliRunner

from headwater.cli.app import app
from headwater.cli.params import PlainRuntimeParam, plain_params, typer_coercion


def every_param() -> list[tuple[click.Command, core._TyperParameter]]:
    """Each parameter of each command, subcommands included."""
    root = get_command(app)
    ctx = click.Context(root)
    found: list[tuple[click.Command, core._TyperParameter]] = []

    def walk(command: click.Command) -> None:
        for param in command.get_params(ctx):
            if isinstance(param, core._TyperParameter):
                found.append((command, param))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(root)
    return found


PARAMS = every_param()
PLAIN = [(c, p) for c, p in PARAMS if p.type_descriptor.annotation is not bool]


def outcome(coerce: Any, value: Any, param: core._TyperParameter, ctx: click.Context) -> tuple[str, Any]:
    try:
        got = coerce(value, param=param, ctx=ctx)
    except click.exceptions.BadParameter as e:
        return "error", e.format_message()
    return "value", (type(got), got)


def test_the_plain_coercion_covers_the_commands_options() -> None:
    names = {(c.name, p.name) for c, p in PLAIN}
    assert {("query", "format"), ("query", "sql"), ("status", "project"), ("validate", "project")} <= names


VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["", ".", "-", "table", "json", "csv", "JSON", " json", "/", "/nonexistent/x", "~", "a b"]
    ),
)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(PLAIN) - 1), value=VALUES)
def test_values_come_out_as_typer_makes_them(index: int, value: str) -> None:
    command, param = PLAIN[index]
    ctx = click.Context(command)
    mine = PlainRuntimeParam(
        parameter_info=param.type_descriptor.parameter_info,
        annotation=param.type_descriptor.annotation,
        fallback=param,
    )
    try:
        expected = outcome(typer_coercion(param).coerce, value, param, ctx)
    except ValueError:  # (e.g. a path with a NUL byte: Typer's coercion fails outright)
        with pytest.raises(ValueError):
            mine.coerce(value, param=param, ctx=ctx)
        return
    assert outcome(mine.coerce, value, param, ctx) == expected


def test_defaults_and_enum_members_come_out_as_typer_makes_them(tmp_path: Path) -> None:
    unreadable = tmp_path / "locked"
    unreadable.mkdir(mode=0)
    try:
        for command, param in PLAIN:
            ctx = click.Context(command)
            mine = PlainRuntimeParam(
                parameter_info=param.type_descriptor.parameter_info,
                annotation=param.type_descriptor.annotation,
                fallback=param,
            )
            values = [param.default, Path("."), str(unreadable), *(param.type_descriptor.choices or ())]
            for value in values:
                if value is None:
                    continue
                expected = outcome(typer_coercion(param).coerce, value, param, ctx)
                assert outcome(mine.coerce, value, param, ctx) == expected, (command.name, param.name, value)
    finally:
        os.chmod(unreadable, 0o700)


def test_a_wrong_choice_prints_typer_s_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["query", "SELECT 1", "-p", str(tmp_path), "--format", "yaml"])
    assert result.exit_code == 2
    assert "Invalid value for '--format' / '-f'" in result.output
    assert "'yaml' is not one of 'table', 'json', 'csv'" in result.output


def test_plain_params_leaves_other_types_to_typer() -> None:
    root = get_command(app)
    ui = root.commands["ui"]  # type: ignore[attr-defined]
    ctx = click.Context(ui)
    plain_params(ui, ctx)
    port = next(p for p in ui.get_params(ctx) if p.name == "port")
    assert isinstance(port, core._TyperParameter)
    assert port.get_runtime_param().coerce("8080", param=port, ctx=ctx) == 8080
    with pytest.raises(click.exceptions.BadParameter):
        port.get_runtime_param().coerce("eighty", param=port, ctx=ctx)
