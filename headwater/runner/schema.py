"""ON_SCHEMA_CHANGE for one decoded chunk: EVOLVE widens/adds columns, QUARANTINE sets aside the
records that do not fit the table, FAIL stops the job at the first such record."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from headwater.dialect.nodes import CreateIngestJob
from headwater.lake import qualified, quote
from headwater.lake.tables import user_columns
from headwater.quality.errors import JobStopped
from headwater.quality.quarantine import QuarantineBatch
from headwater.runner.context import RunContext
from headwater.sources.decode import Decoded
from headwater.sources.files import LINE_COLUMN, FileChunk
from headwater.sources.typing import REASON


@dataclass
class Conformed:
    name: str  # a registered view of the rows that fit, with __hw_line
    columns: list[str]
    quarantined: list[QuarantineBatch] = field(default_factory=list)


def _stop(stmt: CreateIngestJob, where: str, what: str) -> JobStopped:
    return JobStopped(
        f"job {stmt.name} stopped (ON_SCHEMA_CHANGE = FAIL): {what} at {where}; nothing of this batch was committed",
        hint=f"change the table or the data, or set ON_SCHEMA_CHANGE = EVOLVE; then `headwater resume {stmt.name}`",
    )


def conform(
    ctx: RunContext, stmt: CreateIngestJob, chunk: FileChunk, decoded: Decoded, prefix: str
) -> Conformed:
    assert stmt.target is not None
    lake = ctx.lake
    mode = stmt.options.on_schema_change
    table = decoded.table
    exists = lake.table_exists(stmt.target.schema, stmt.target.name)
    have = user_columns(lake.columns(stmt.target.schema, stmt.target.name)) if exists else {}
    quarantined: list[QuarantineBatch] = []
    if exists and mode != "EVOLVE":
        if mode == "FAIL":
            casts = decoded.rejected.filter(pc.starts_with(decoded.rejected[REASON], "column "))
            if casts.num_rows:
                first = casts.slice(0, 1).to_pylist()[0]
                raise _stop(stmt, f"{prefix}{first[LINE_COLUMN]}", first[REASON])
        new = [c for c in table.column_names if c != LINE_COLUMN and c not in have]
        if new:
            present = _has_value(table, new)
            if pc.any(present).as_py():
                if mode == "FAIL":
                    line = table.filter(present)[LINE_COLUMN][0].as_py()
                    cols = [c for c in new if table[c].null_count < table.num_rows]
                    raise _stop(
                        stmt, f"{prefix}{line}", f"new column(s) {', '.join(cols)} not in {stmt.target}"
                    )
                quarantined.append(_not_in_table(ctx, table.filter(present), new, str(stmt.target)))
                table = table.filter(pc.invert(present))
            table = table.drop_columns(new)
    elif exists and decoded.widen:
        name = qualified(stmt.target.schema, stmt.target.name)
        for col, typ in decoded.widen.items():
            if have.get(col) != typ:
                lake.execute(f"ALTER TABLE {name} ALTER COLUMN {quote(col)} SET DATA TYPE {typ}")
    view = f"hw_rows_{id(chunk)}"
    lake.con.register(view, table)
    return Conformed(view, [c for c in table.column_names if c != LINE_COLUMN], quarantined)


def _has_value(table: pa.Table, columns: list[str]) -> pa.ChunkedArray:
    mask = None
    for c in columns:
        valid = pc.is_valid(table[c])
        mask = valid if mask is None else pc.or_(mask, valid)
    assert mask is not None
    return mask


def _not_in_table(ctx: RunContext, rows: pa.Table, new: list[str], target: str) -> QuarantineBatch:
    ctx.lake.con.register("hw_misfit", rows)
    try:
        cols = [c for c in rows.column_names if c != LINE_COLUMN]
        pack = ", ".join(f"{quote(c)} := {quote(c)}" for c in cols)
        reason = (
            "'columns not in "
            + target
            + ": ' || concat_ws(', ', "
            + ", ".join(f"CASE WHEN {quote(c)} IS NOT NULL THEN '{c}' END" for c in new)
            + ")"
        )
        out = ctx.lake.con.sql(
            f"SELECT {LINE_COLUMN}, to_json(struct_pack({pack}))::VARCHAR AS record, {reason} AS reason FROM hw_misfit"
        ).to_arrow_table()
    finally:
        ctx.lake.con.unregister("hw_misfit")
    return QuarantineBatch(out[LINE_COLUMN], out["record"], out["reason"], "record")
