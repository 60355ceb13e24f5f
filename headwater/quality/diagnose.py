"""When DuckDB cannot evaluate a job's expressions on its records: which expression, and why,
in words a user can act on — and never with a record's values when the job protects columns.

DuckDB quotes values in its errors ("Could not convert string 'a@b.com' to INT32"); for a job
with COLUMN_TRANSFORMATIONS or EXCLUDE_COLUMNS every quoted text and every number of three or
more digits in such a message is replaced by ``<value>``. The SQL excerpt DuckDB appends
(``LINE 1: ...``) is Headwater's generated SQL, not the user's, and is left out.
"""

from __future__ import annotations

import re

import duckdb

from headwater.catalog.columns import expression_columns
from headwater.dialect import to_duckdb
from headwater.quality.batch import QualitySpec
from headwater.quality.errors import QualityError
from headwater.quality.transforms import translate

_QUOTED = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d{3,}(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
HIDDEN = "<value>"


# A function signature DuckDB quotes ('+(VARCHAR, INTEGER_LITERAL)') is not a value.
_SIGNATURE = re.compile(r"'[^'(]*\((?:[A-Z][A-Z0-9_\[\]]*(?:, )?)*\)'")


def scrub(message: str, private: bool) -> str:
    """DuckDB's message without its SQL excerpt and candidate lists; values hidden when ``private``."""
    kept: list[str] = []
    for line in message.strip().splitlines():
        if line.strip().startswith(("LINE ", "Candidate functions", "Candidate bindings")):
            break
        if line.strip():
            kept.append(line)
    text = "\n".join(kept).strip()
    if private:
        hide = lambda m: m.group(0) if _SIGNATURE.fullmatch(m.group(0)) else f"'{HIDDEN}'"  # noqa: E731
        text = _NUMBER.sub(HIDDEN, _QUOTED.sub(hide, text))
    return text


def _candidates(spec: QualitySpec, extras: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """(what, SQL, columns read) for each expression of the job."""
    out: list[tuple[str, str, list[str]]] = []
    for name, sql in extras.items():
        out.append((name, sql, []))
    for t in spec.transformations:
        out.append(
            (
                f"COLUMN_TRANSFORMATIONS ({t.target} = ...)",
                translate(t.expression),
                expression_columns(t.expression),
            )
        )
    for e in spec.expectations:
        where = f" ({e.pos})" if e.pos else ""
        out.append(
            (
                f"expectation {e.name}{where}",
                f"({to_duckdb(e.predicate)})::BOOLEAN",
                expression_columns(e.predicate),
            )
        )
    return out


def explain_failure(
    con: duckdb.DuckDBPyConnection,
    view: str,
    columns: dict[str, str],
    spec: QualitySpec,
    extras: dict[str, str],
    error: duckdb.Error,
    *,
    job: str,
    source: str,
) -> QualityError:
    """The error to raise when evaluating ``spec`` over ``view`` (whose record columns and types
    are ``columns``) failed with ``error``: each expression is tried alone — first bound, then
    run — to name the one DuckDB rejects. (Only on this failure path: it reads the batch again.)"""
    have = {c.lower() for c in columns}
    tried = [
        (what, sql) for what, sql, reads in _candidates(spec, extras) if {r.lower() for r in reads} <= have
    ]
    culprit, cause = None, error
    for bound_only in (True, False):
        for what, sql in tried:
            probe = f"SELECT {sql} FROM {view} LIMIT 0" if bound_only else f"SELECT count({sql}) FROM {view}"
            try:
                con.execute(probe)
            except duckdb.Error as e:
                culprit, cause = what, e
                break
        if culprit:
            break
    reason = scrub(str(cause), spec.private)
    typed = ", ".join(f"{c} {t}" for c, t in columns.items())
    return QualityError(
        f"job {job}: {culprit or 'the job'} cannot be evaluated on the records of {source}: {reason}",
        hint=f"fix the expression; the records' columns and types are: {typed}; nothing of this batch "
        "was committed",
    )
