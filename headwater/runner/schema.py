"""ON_SCHEMA_CHANGE for one decoded chunk: QUARANTINE sets aside the records that do not fit
the table, FAIL stops the job at the first such record. (EVOLVE's new and widened columns are
added to the table when the rows are written: ``lake.tables``.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow.compute as pc

from headwater.dialect.nodes import CreateIngestJob
from headwater.lake import Lake, quote
from headwater.quality.errors import JobStopped
from headwater.quality.quarantine import QuarantineBatch
from headwater.sources.decode import Decoded
from headwater.sources.files import LINE_COLUMN
from headwater.sources.typing import REASON


@dataclass
class Conformed:
    name: str  # a DuckDB table or view of the rows that fit, with __hw_line
    columns: list[str]
    quarantined: list[QuarantineBatch] = field(default_factory=list)


def _stop(stmt: CreateIngestJob, where: str, what: str) -> JobStopped:
    return JobStopped(
        f"job {stmt.name} stopped (ON_SCHEMA_CHANGE = FAIL): {what} at {where}; nothing of this batch was committed",
        hint=f"change the table or the data, or set ON_SCHEMA_CHANGE = EVOLVE; then `headwater resume {stmt.name}`",
    )


def conform(
    stmt: CreateIngestJob,
    decoded: Decoded,
    lake: Lake,
    source: Callable[[int], str],
    have: dict[str, str] | None,
) -> Conformed:
    """``source`` gives a line's ``$source``; ``have``: the table's columns (None: no table yet). Under EVOLVE nothing is changed here:
    the columns ``decoded.widen`` names are widened when the rows are written."""
    assert stmt.target is not None
    mode = stmt.options.on_schema_change
    columns = list(decoded.columns)
    quarantined: list[QuarantineBatch] = []
    if have is not None and mode != "EVOLVE":
        if mode == "FAIL":
            casts = decoded.rejected.filter(pc.starts_with(decoded.rejected[REASON], "column "))
            if casts.num_rows:
                first = casts.slice(0, 1).to_pylist()[0]
                raise _stop(stmt, source(int(first[LINE_COLUMN])), first[REASON])
        # (a column the job excludes is never stored, so it is never new)
        lowered = {c.lower() for c in have} | {c.lower() for c in stmt.options.exclude_columns}
        new = [c for c in columns if c.lower() not in lowered]
        if new:
            present = " OR ".join(f"{quote(c)} IS NOT NULL" for c in new)
            first = lake.fetchone(f"SELECT min({LINE_COLUMN}) FROM {decoded.table} WHERE {present}")
            if first and first[0] is not None:
                if mode == "FAIL":
                    raise _stop(
                        stmt, source(int(first[0])), f"new column(s) {', '.join(new)} not in {stmt.target}"
                    )
                quarantined.append(
                    _not_in_table(lake, decoded.table, columns, new, present, str(stmt.target))
                )
                lake.execute(f"DELETE FROM {decoded.table} WHERE {present}")
            columns = [c for c in columns if c not in new]
    return Conformed(decoded.table, columns, quarantined)


def _not_in_table(
    lake: Lake, table: str, columns: list[str], new: list[str], present: str, target: str
) -> QuarantineBatch:
    pack = ", ".join(f"{quote(c)} := {quote(c)}" for c in columns)
    reason = (
        f"'columns not in {target}: ' || concat_ws(', ', "
        + ", ".join(f"CASE WHEN {quote(c)} IS NOT NULL THEN '{c}' END" for c in new)
        + ")"
    )
    out = lake.con.sql(
        f"SELECT {LINE_COLUMN}, to_json(struct_pack({pack}))::VARCHAR AS record, {reason} AS reason "
        f"FROM {table} WHERE {present} ORDER BY {LINE_COLUMN}"
    ).to_arrow_table()
    return QuarantineBatch(out[LINE_COLUMN], out["record"], out["reason"], "record")
