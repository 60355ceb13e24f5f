"""ON_SCHEMA_CHANGE for one decoded chunk: EVOLVE widens/adds columns, QUARANTINE sets aside the
records that do not fit the table, FAIL stops the job at the first such record."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.compute as pc

from headwater.dialect.nodes import CreateIngestJob
from headwater.lake import qualified, quote
from headwater.lake.tables import user_columns
from headwater.quality.errors import JobStopped
from headwater.quality.quarantine import QuarantineBatch
from headwater.runner.context import RunContext
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


def conform(ctx: RunContext, stmt: CreateIngestJob, decoded: Decoded, prefix: str) -> Conformed:
    assert stmt.target is not None
    lake = ctx.lake
    mode = stmt.options.on_schema_change
    exists = lake.table_exists(stmt.target.schema, stmt.target.name)
    have = user_columns(lake.columns(stmt.target.schema, stmt.target.name)) if exists else {}
    columns = list(decoded.columns)
    quarantined: list[QuarantineBatch] = []
    if exists and mode != "EVOLVE":
        if mode == "FAIL":
            casts = decoded.rejected.filter(pc.starts_with(decoded.rejected[REASON], "column "))
            if casts.num_rows:
                first = casts.slice(0, 1).to_pylist()[0]
                raise _stop(stmt, f"{prefix}{first[LINE_COLUMN]}", first[REASON])
        lowered = {c.lower() for c in have}
        new = [c for c in columns if c.lower() not in lowered]
        if new:
            present = " OR ".join(f"{quote(c)} IS NOT NULL" for c in new)
            first = lake.fetchone(f"SELECT min({LINE_COLUMN}) FROM {decoded.table} WHERE {present}")
            if first and first[0] is not None:
                if mode == "FAIL":
                    raise _stop(
                        stmt, f"{prefix}{first[0]}", f"new column(s) {', '.join(new)} not in {stmt.target}"
                    )
                quarantined.append(_not_in_table(ctx, decoded.table, columns, new, present, str(stmt.target)))
                lake.execute(f"DELETE FROM {decoded.table} WHERE {present}")
            columns = [c for c in columns if c not in new]
    elif exists and decoded.widen:
        name = qualified(stmt.target.schema, stmt.target.name)
        for col, typ in decoded.widen.items():
            if have.get(col) != typ:
                lake.execute(f"ALTER TABLE {name} ALTER COLUMN {quote(col)} SET DATA TYPE {typ}")
    return Conformed(decoded.table, columns, quarantined)


def _not_in_table(
    ctx: RunContext, table: str, columns: list[str], new: list[str], present: str, target: str
) -> QuarantineBatch:
    pack = ", ".join(f"{quote(c)} := {quote(c)}" for c in columns)
    reason = (
        f"'columns not in {target}: ' || concat_ws(', ', "
        + ", ".join(f"CASE WHEN {quote(c)} IS NOT NULL THEN '{c}' END" for c in new)
        + ")"
    )
    out = ctx.lake.con.sql(
        f"SELECT {LINE_COLUMN}, to_json(struct_pack({pack}))::VARCHAR AS record, {reason} AS reason "
        f"FROM {table} WHERE {present} ORDER BY {LINE_COLUMN}"
    ).to_arrow_table()
    return QuarantineBatch(out[LINE_COLUMN], out["record"], out["reason"], "record")
