"""Writing to ``system.quarantine``: the record's text, its ``$source``, the reason, and how to
replay it. In a job with PII transformations nothing is stored in clear: a parsed record is
stored transformed (plus its original sealed with the project secret, for replay), an
unparseable one only sealed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from headwater.lake import LAKE, SYSTEM_SCHEMA, Lake
from headwater.quality.secret import Sealer

QUARANTINE = f"{LAKE}.{SYSTEM_SCHEMA}.quarantine"
SEALED_TEXT = "(sealed: contains PII; `headwater quarantine show ID --decrypt` to read it)"
ID_STRIDE = 100_000_000  # ids are run_id * ID_STRIDE + n


@dataclass
class QuarantineBatch:
    """Records of one batch to quarantine: ``lines`` (int64), ``texts`` (what to show),
    ``reasons``, and for private jobs ``originals`` (what to seal for replay)."""

    lines: pa.Array
    texts: pa.Array
    reasons: pa.Array
    format: str  # how replay reads the text: json, csv:<header json>, record
    originals: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.lines)


def write(
    lake: Lake,
    batches: list[QuarantineBatch],
    *,
    job: str,
    run_id: int,
    at: datetime,
    source_of: Callable[[pa.Array], pa.Array],
    sealer: Sealer | None,
    first: int = 0,
) -> int:
    """Insert the batches; returns how many records were quarantined. ``source_of`` gives the
    ``$source`` of each line. Ids are ``run_id * ID_STRIDE + first + n``: pass how many this run
    has quarantined so far."""
    tables = []
    n = first
    for b in batches:
        if not len(b):
            continue
        ids = pa.array(range(run_id * ID_STRIDE + n, run_id * ID_STRIDE + n + len(b)), pa.int64())
        n += len(b)
        texts = b.texts
        sealed: pa.Array = pa.nulls(len(b), pa.string())
        if sealer is not None:
            originals = b.originals if b.originals is not None else b.texts
            sealed = pa.array(
                [None if v is None else sealer.seal(v) for v in originals.to_pylist()], pa.string()
            )
            if b.originals is None:  # unparseable: nothing shown in clear
                texts = pa.array([SEALED_TEXT] * len(b), pa.string())
        sources = source_of(b.lines)
        tables.append(
            pa.table(
                {
                    "id": ids,
                    "job": pa.array([job] * len(b), pa.string()),
                    "$source": sources,
                    "raw": pc.cast(texts, pa.string()),
                    "reason": pc.cast(b.reasons, pa.string()),
                    "format": pa.array([b.format] * len(b), pa.string()),
                    "sealed": sealed,
                }
            )
        )
    if not tables:
        return 0
    n -= first
    lake.con.register("hw_quarantine", pa.concat_tables(tables))
    try:
        lake.execute(
            f"""INSERT INTO {QUARANTINE} (id, job, "$source", raw, reason, "at", run_id, format, sealed)
                SELECT id, job, "$source", raw, reason, ?, ?, format, sealed FROM hw_quarantine""",
            [at, run_id],
        )
    finally:
        lake.con.unregister("hw_quarantine")
    return n


def mark_replayed(lake: Lake, ids: list[int], run_id: int, at: datetime) -> None:
    lake.execute(
        f"UPDATE {QUARANTINE} SET replayed_at = ?, replay_run_id = ? WHERE list_contains(?, id)",
        [at, run_id, ids],
    )
