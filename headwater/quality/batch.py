"""One batch through the guarantees, in DuckDB: transformations, expectations, deduplication.

Every row ends in exactly one bucket — ``write``, ``quarantine``, ``drop``, ``duplicate`` or
``reject`` (it could not be read: the input's ``__hw_reject`` column names why) — or the batch
aborts. Expectations see the values as they arrived; what is
stored (rows, quarantine) has the transformations applied. A row violating several
expectations goes to the strictest bucket (ABORT > QUARANTINE > DROP > WARN) and counts
as a violation of each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
from sqlglot import exp

from headwater.dialect import to_duckdb
from headwater.dialect.nodes import ColumnTransformation, Dedupe, Expectation
from headwater.lake import INTERNAL_SCHEMA, LAKE, quote
from headwater.quality.transforms import SALT_VARIABLE, select_list

# Optional input columns: why the record could not be read (NULL: it could; BLANK: the line is
# blank, not a record) and a hash of the record's keys (passed through).
from headwater.sources.decode import BLANK, REJECT, SHAPE

LINE = "__hw_line"
BUCKET = "__hw_bucket"
REASON = "__hw_reason"
KEY_HI, KEY_LO = "__hw_key_hi", "__hw_key_lo"
DEDUPE_STATE = f"{LAKE}.{INTERNAL_SCHEMA}.dedupe"
_RANK = {"ABORT": 4, "QUARANTINE": 3, "DROP": 2, "WARN": 1}


@dataclass
class QualitySpec:
    transformations: list[ColumnTransformation] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    dedupe: Dedupe | None = None

    @property
    def private(self) -> bool:
        return bool(self.transformations or self.excludes)


@dataclass
class Outcome:
    """Counts and the name of the temp table holding the batch with its bucket per row."""

    table: str
    rows: int
    written: int
    quarantined: int
    dropped: int
    deduplicated: int
    violations: dict[str, int]
    aborted: tuple[str, int] | None  # (expectation, line) of the first ABORT violation
    output_columns: list[str]
    write_filter: str = f"{BUCKET} = 'write'"  # the rows of ``table`` to write
    owned: bool = True  # ``table`` was made by evaluate (drop it when done)
    rejected: int = 0  # rows that could not be read (bucket ``reject``)

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.owned:
            con.execute(f"DROP TABLE IF EXISTS {self.table}")

    @property
    def trivial(self) -> bool:
        return not self.owned


def evaluate(
    con: duckdb.DuckDBPyConnection,
    view: str,
    spec: QualitySpec,
    *,
    extras: dict[str, str] | None = None,
    columns_in: list[str] | None = None,
    table: str = "hw_quality",
) -> Outcome:
    """Classify the rows of ``view`` (a table, or a parenthesised query, with ``__hw_line``)
    into a temp table ``table`` — the batch's one materialisation. ``extras`` are more columns
    (name -> SQL over the original values) to compute alongside; ``columns_in`` restricts which
    columns of ``view`` are the record's."""
    rel = con.sql(f"SELECT * FROM {view} LIMIT 0")
    columns = [
        (c, t)
        for c, t in zip(rel.columns, rel.types, strict=True)
        if not c.startswith("__hw_") and (columns_in is None or c in columns_in)
    ]
    passed = [c for c in (REJECT, SHAPE) if c in rel.columns]
    readable = f"{REJECT} IS NULL" if REJECT in passed else "true"
    if not (spec.transformations or spec.excludes or spec.expectations or spec.dedupe or passed):
        # Nothing to check or change: the rows are written as they are (extras computed on write).
        count = con.sql(f"SELECT count(*) FROM {view}").fetchone()
        n = int(count[0]) if count else 0
        return Outcome(view, n, n, 0, 0, 0, {}, None, [c for c, _ in columns], "true", owned=False)
    outputs = select_list(columns, spec.transformations, spec.excludes)
    # A record that could not be read violates nothing: it is rejected before expectations.
    flags = [
        f"({readable} AND NOT coalesce(({to_duckdb(e.predicate)})::BOOLEAN, false)) AS {quote('__hw_x_' + e.name)}"
        for e in spec.expectations
    ]
    con.execute(f"DROP TABLE IF EXISTS {table}")
    more = [f"{sql} AS {quote(name)}" for name, sql in (extras or {}).items()]
    # A column that expectations or keys name but this batch lacks reads as NULL.
    present = {c.lower() for c, _ in columns}
    referenced = {
        (col.table or col.name) for e in spec.expectations for col in e.predicate.find_all(exp.Column)
    } | {c.split(".")[0] for c in (spec.dedupe.columns if spec.dedupe else [])}
    missing = sorted(c for c in referenced if c.lower() not in present and not c.startswith("$"))
    source = view
    if missing:
        nulls = ", ".join(f"NULL AS {quote(c)}" for c in missing)
        source = f"(SELECT *, {nulls} FROM {view})"
    digest = "NULL::UHUGEINT"
    if spec.dedupe:
        # 126 bits of a salted MD5 of the key columns, kept as two BIGINTs (cheap to hash, store).
        keys = [to_duckdb(_column(c)) for c in spec.dedupe.columns]
        all_null = " AND ".join(f"({k}) IS NULL" for k in keys)
        digest = (
            f"CASE WHEN {all_null} THEN NULL "
            f"ELSE md5_number(getvariable('{SALT_VARIABLE}') || {key_text(con, source, keys)}) END"
        )
    select = ", ".join([*outputs, LINE, *passed, *more, *flags, f"{digest} AS __hw_digest"])
    # One statement: values and flags, then the strictest violated action decides the bucket
    # (the reason names every violation). Duplicates are marked later (``quality.dedupe``).
    case = (
        [f"WHEN {REJECT} = '{BLANK}' THEN 'blank'", f"WHEN {REJECT} IS NOT NULL THEN 'reject'"]
        if REJECT in passed
        else []
    )
    for action in sorted(_RANK, key=lambda a: -_RANK[a]):
        names = [e.name for e in spec.expectations if e.action == action]
        if names and action != "WARN":
            cond = " OR ".join(quote("__hw_x_" + n) for n in names)
            case.append(f"WHEN {cond} THEN '{action.lower()}'")
    bucket = f"CASE {' '.join(case)} ELSE 'write' END" if case else "'write'"
    reason_parts = [
        f"CASE WHEN {quote('__hw_x_' + e.name)} THEN 'expectation {e.name} ({e.action}) failed' END"
        for e in spec.expectations
    ]
    any_flag = " OR ".join(quote("__hw_x_" + e.name) for e in spec.expectations)
    reason = (
        f"CASE WHEN {any_flag} THEN concat_ws('; ', {', '.join(reason_parts)}) END"
        if reason_parts
        else "NULL::VARCHAR"
    )
    staged = (
        f"SELECT * EXCLUDE (__hw_digest), {bucket} AS {BUCKET}, {reason} AS {REASON}, "
        f"(__hw_digest >> 65)::BIGINT AS {KEY_HI}, ((__hw_digest >> 1) & {2**63 - 1}::UHUGEINT)::BIGINT AS {KEY_LO} "
        f"FROM (SELECT {select} FROM {source})"
    )
    con.execute(f"CREATE TEMP TABLE {table} AS {staged}")
    output_names = [c for c in con.sql(f"SELECT * FROM {table} LIMIT 0").columns if not c.startswith("__hw_")]

    counts_sql = [
        f"count(*) FILTER (WHERE {BUCKET} = '{b}')"
        for b in ("write", "quarantine", "drop", "duplicate", "abort", "reject", "blank")
    ]
    counts_sql += [f"count(*) FILTER (WHERE {quote('__hw_x_' + e.name)})" for e in spec.expectations]
    row = con.sql(f"SELECT count(*), {', '.join(counts_sql)} FROM {table}").fetchone()
    assert row is not None
    total, written, quarantined, dropped, duplicates, aborts, rejected, blank, *violations = row
    aborted = None
    if aborts:
        names = [e.name for e in spec.expectations if e.action == "ABORT"]
        cond = " OR ".join(quote("__hw_x_" + n) for n in names)
        first = con.sql(
            f"SELECT {LINE}, {', '.join(quote('__hw_x_' + n) for n in names)} FROM {table} WHERE {cond} ORDER BY {LINE} LIMIT 1"
        ).fetchone()
        assert first is not None
        failed = next(n for n, hit in zip(names, first[1:], strict=True) if hit)
        aborted = (failed, int(first[0]))
    return Outcome(
        table,
        int(total) - int(blank),  # a blank line is not a record
        int(written),
        int(quarantined),
        int(dropped),
        int(duplicates),
        {e.name: int(v) for e, v in zip(spec.expectations, violations, strict=True)},
        aborted,
        output_names,
        rejected=int(rejected),
    )


# Types whose text never needs escaping in JSON (digits, signs, dots, dashes, colons, letters).
_PLAIN_TEXT = re.compile(
    r"(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\)|BOOLEAN|DATE|TIME"
    r"|TIMESTAMP(_S|_MS|_NS)?|TIMESTAMP WITH TIME ZONE|TIME WITH TIME ZONE|INTERVAL|UUID)"
)


def key_text(con: duckdb.DuckDBPyConnection, source: str, keys: list[str]) -> str:
    """SQL for the dedupe key's text: the key values as a JSON list of strings,
    ``to_json(list_value(CAST(k AS VARCHAR), ...))`` — written out with concatenation where a
    value's text needs no escaping (that is the costly part of ``to_json``)."""
    types = con.sql(f"SELECT {', '.join(f'({k})' for k in keys)} FROM {source} LIMIT 0").types
    parts = []
    for k, typ in zip(keys, types, strict=True):
        text = f"CAST(({k}) AS VARCHAR)"
        if _PLAIN_TEXT.fullmatch(str(typ).upper()):
            parts.append(f"""CASE WHEN ({k}) IS NULL THEN 'null' ELSE '"' || {text} || '"' END""")
        else:
            parts.append(f"coalesce(to_json({text}), 'null')")
    return "concat('[', " + ", ',', ".join(parts) + ", ']')"


def _column(path: str) -> exp.Expression:
    parts = path.split(".")
    return exp.column(parts[-1], table=parts[0]) if len(parts) == 2 else exp.column(path)


def rows_as_json(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], where: str) -> pa.Table:
    """``__hw_line``, the record as JSON text (its stored, transformed values) and the reason."""
    pack = ", ".join(f"{quote(c)} := {quote(c)}" for c in columns)
    return con.sql(
        f"SELECT {LINE}, to_json(struct_pack({pack}))::VARCHAR AS record, {REASON} AS reason FROM {table} WHERE {where}"
    ).to_arrow_table()
