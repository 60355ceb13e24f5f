"""The system columns of Kafka records replayed from the quarantine.

A record quarantined after it was read (an expectation, ON_SCHEMA_CHANGE) is kept as JSON with
its ``$kafka_key``, ``$kafka_timestamp`` and ``$kafka_headers``; replay takes them out of the
record again. A value that could not be read at all kept only its text: replayed, its system
columns are NULL. (Replay is the rare path: a few records, per-record Python is fine.)
"""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from headwater.dialect.nodes import KAFKA_COLUMNS
from headwater.sources.files import LINE_COLUMN


def kafka_system(
    con: duckdb.DuckDBPyConnection, lines: list[int], texts: list[str], fmt: str
) -> tuple[list[str], pa.Table]:
    """The texts without the system columns, and those columns by line."""
    found: dict[str, list[str | None]] = {c: [] for c in KAFKA_COLUMNS}
    kept = []
    for text in texts:
        record = None
        if fmt == "record":
            try:
                record = json.loads(text)
            except ValueError:
                record = None
        if isinstance(record, dict):
            for c in KAFKA_COLUMNS:
                value = record.pop(c, None)
                found[c].append(value if value is None or isinstance(value, str) else json.dumps(value))
            kept.append(json.dumps(record))
        else:
            for c in KAFKA_COLUMNS:
                found[c].append(None)
            kept.append(text)
    texts_table = pa.table(
        {
            LINE_COLUMN: pa.array(lines, pa.int64()),
            **{c: pa.array(v, pa.string()) for c, v in found.items()},
        }
    )
    con.register("hw_kafka_replay", texts_table)
    try:
        system = con.sql(
            f"""SELECT {LINE_COLUMN}, "$kafka_key",
                CAST("$kafka_timestamp" AS TIMESTAMPTZ) AS "$kafka_timestamp",
                CAST(CAST("$kafka_headers" AS JSON) AS MAP(VARCHAR, VARCHAR)) AS "$kafka_headers"
                FROM hw_kafka_replay"""
        ).to_arrow_table()
    finally:
        con.unregister("hw_kafka_replay")
    return kept, system
