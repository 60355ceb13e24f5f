"""Regenerate docs/cli.md from the command line's own ``--help``.

python scripts/gen_cli_docs.py          # rewrite docs/cli.md
python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from typer.main import get_command
from typer.testing import CliRunner

from headwater.cli.app import app

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

INTRO = """\
# Command line reference

<!-- Generated from `headwater --help` by scripts/gen_cli_docs.py: edit the commands' help, then
     run `python scripts/gen_cli_docs.py`. A test checks that this file is up to date. -->

Every command works on a project folder: `-p/--project DIR`, the current folder by default.

Exit codes: `0` success, `1` a job or the pipeline failed, `2` a user error (bad SQL, a bad
option, a missing file or folder, the project already running). A user error prints
`error: <what is wrong, where>` and often `hint: <what to do next>` on stderr, never a traceback.

Data goes to stdout and everything else (progress, notices, errors) to stderr, so
`headwater query "SELECT ..." --format json | jq` and `headwater status --format json` can be
piped. `--format json` prints one JSON document: a list of row objects. In JSON and CSV,
timestamps, dates and times are ISO 8601 strings, decimals are exact numbers, intervals are
DuckDB's text (`01:30:00`, `1 month 2 days`), binary values are base64 and nested values are JSON
objects and arrays. A date or time that Python's types cannot hold (`infinity`, `TIME
'24:00:00'`, years past 9999) is printed as DuckDB writes it, and so are the other dates and
times of the same result; a `UHUGEINT` is exact (a string in JSON, as `HUGEINT` is). A `DOUBLE`'s
`NaN`, `Infinity` and `-Infinity` (which JSON has no numbers for) are the strings `"NaN"`,
`"Infinity"` and `"-Infinity"` in JSON, and that text in CSV and tables; `NULL` is `null` in
JSON, an empty field in CSV.
"""


def command_names() -> list[str]:
    group = get_command(app)
    return list(getattr(group, "commands", {}))


def help_text(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="headwater", env={"COLUMNS": "80"})
    if result.exit_code != 0:
        raise RuntimeError(f"headwater {' '.join(args)} --help failed: {result.output}")
    return result.stdout.rstrip() + "\n"


def render() -> str:
    parts = [INTRO, "## headwater\n", "```text\n" + help_text() + "```\n"]
    for name in command_names():
        parts.append(f"## headwater {name}\n")
        parts.append("```text\n" + help_text(name) + "```\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
