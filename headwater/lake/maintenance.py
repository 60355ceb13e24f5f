"""Keeping the lake's size bounded: compact the dedupe state and expire old snapshots.

DuckLake keeps every snapshot (time travel) until it is expired; deleted rows stay in files
until those are rewritten. Without this, the dedupe state (keys expire every commit) would
grow with the history instead of with the window.
"""

from __future__ import annotations

import duckdb

from headwater.lake.engine import INTERNAL_SCHEMA, LAKE, Lake
from headwater.lake.errors import LakeError


def maintain(lake: Lake, retention_hours: float) -> None:
    """Rewrite the dedupe state's files without their deleted rows, then expire snapshots
    older than ``retention_hours`` (but none a provisional window still needs) and delete the
    files no snapshot needs any more."""
    interval = f"INTERVAL '{float(retention_hours) * 3600:.0f} seconds'"
    # A provisional window's snapshot is needed to replace its output: keep it until then.
    row = lake.fetchone(
        f"SELECT least(now() - {interval}, min(commit_time) - INTERVAL 1 MINUTE) "
        f"FROM {LAKE}.{INTERNAL_SCHEMA}.provisional"
    )
    cutoff = f"TIMESTAMPTZ '{row[0].isoformat()}'" if row and row[0] is not None else f"now() - {interval}"
    steps = [
        f"CALL ducklake_flush_inlined_data('{LAKE}', schema_name => '{INTERNAL_SCHEMA}', table_name => 'dedupe')",
        f"CALL ducklake_rewrite_data_files('{LAKE}', 'dedupe', schema => '{INTERNAL_SCHEMA}', delete_threshold => 0.1)",
        f"CALL ducklake_merge_adjacent_files('{LAKE}', 'dedupe', schema => '{INTERNAL_SCHEMA}')",
        f"CALL ducklake_expire_snapshots('{LAKE}', older_than => {cutoff})",
        f"CALL ducklake_cleanup_old_files('{LAKE}', older_than => {cutoff})",
    ]
    for sql in steps:
        try:
            lake.execute(sql)
        except duckdb.Error as e:
            raise LakeError(f"lake maintenance failed at `{sql.split('(')[0]}`: {str(e).strip()}") from None
