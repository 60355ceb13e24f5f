"""The one error handler: exit codes and messages, never a traceback for an intended error."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from headwater.cli.app import handled
from headwater.errors import HeadwaterError, JobFailed, UserError
from headwater.lake.errors import LakeBusy


def invoke(error: BaseException) -> tuple[int, str, str]:
    app = typer.Typer()

    @app.command()
    @handled
    def boom(flag: bool = False) -> None:
        raise error

    result = CliRunner().invoke(app, [])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UserError("bad option", hint="use another"), 2),
        (LakeBusy("the lake is busy"), 2),
        (JobFailed("job x failed"), 1),
        (HeadwaterError("the lake is unreachable"), 1),
    ],
)
def test_intended_errors(error: HeadwaterError, code: int) -> None:
    exit_code, stdout, stderr = invoke(error)
    assert exit_code == code
    assert stdout == ""
    assert stderr.startswith(f"error: {error.message}\n")
    assert ("hint: use another" in stderr) == (error.hint is not None)
    assert "Traceback" not in stderr


def test_a_bug_is_reported_as_one_with_its_traceback() -> None:
    exit_code, _, stderr = invoke(ZeroDivisionError("division by zero"))
    assert exit_code == 1
    assert stderr.startswith("internal error: ZeroDivisionError: division by zero")
    assert "Traceback" in stderr
    assert "this is a bug in Headwater" in stderr


def test_exit_passes_through() -> None:
    assert invoke(typer.Exit(3))[0] == 3


def test_keyboard_interrupt() -> None:
    exit_code, _, stderr = invoke(KeyboardInterrupt())
    assert exit_code == 130
    assert "interrupted" in stderr
