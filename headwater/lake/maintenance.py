"""Keeping the lake's size bounded when it commits often: small writes, files and snapshots.

Every commit is a DuckLake snapshot, and without care one Parquet file per table it wrote.
A continuous run that commits every second would leave thousands of both an hour. So:

- small writes (up to ``INLINE_ROWS`` rows a table) are kept inline in the catalog, not as
  Parquet files (DuckLake's data inlining, set on the lake by ``configure``);
- ``maintain`` expires old snapshots, keeping every snapshot of the last minutes and then one
  an hour (and every snapshot a provisional window still needs), writes a table's inlined
  rows out as one Parquet file once there are enough of them, rewrites files mostly of
  deleted rows, merges small adjacent files, and deletes the files no snapshot needs;
- state that a commit appends to rather than replaces (the commit clocks, and the rows of
  ``system.jobs``, ``watermarks`` and ``offsets``: a row per commit, the newest counts) is cut
  back to its newest rows.

DuckLake's flush, rewrite and merge keep each row's snapshot, so time travel and the change
feed of every snapshot kept are the same after them. The dedupe state's deleted keys are
rewritten away at every maintenance so that its size follows the ``DEDUPLICATE_WITH`` window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import duckdb

from headwater.lake.engine import Lake, quote
from headwater.lake.errors import LakeError
from headwater.lake.latest import VIEWS
from headwater.lake.names import INTERNAL_SCHEMA, LAKE

# A commit of at most this many rows into a table is written into the catalog, not a file.
# Measured (docs/operations.md#small-commits): an inlined commit costs about as much as a
# Parquet one at ~100 rows and grows with its rows; a Parquet file costs a file per commit.
INLINE_ROWS = 100
# A table's inlined rows are written out as Parquet once there are this many (live rows, and
# deleted ones kept for time travel): about 100 commits of INLINE_ROWS, so the catalog stays
# small and each file written is not a tiny one.
FLUSH_ROWS = 10_000
# Only files smaller than this are merged, so a maintenance rewrites at most this much of a
# table's old data, however large the table is. (A batch of [run] batch_bytes writes larger
# files: merging those gains little and held, for text that compresses well, 800 MB at once.)
MERGE_BELOW_BYTES = 4 * 1024 * 1024
# A file is rewritten without its deleted rows once they are this share of it.
REWRITE_DELETED_SHARE = 0.5
# The label provisional windows give their commit (runner/provisional.py).
PROVISIONAL_COMMIT = "headwater provisional window"
META = f"__ducklake_metadata_{LAKE}"


@dataclass
class Maintained:
    """What one ``maintain`` did."""

    snapshots_expired: int = 0
    tables_flushed: int = 0
    files_merged: int = 0
    seconds: float = 0.0


def configure(lake: Lake) -> None:
    """Set the lake's data inlining limit (persisted in the catalog; new and existing lakes)."""
    row = lake.fetchone(
        f"SELECT value FROM {LAKE}.options() WHERE option_name = 'data_inlining_row_limit' AND scope = 'GLOBAL'"
    )
    if row is None or row[0] != str(INLINE_ROWS):
        lake.execute(f"CALL {LAKE}.set_option('data_inlining_row_limit', {INLINE_ROWS})")


@dataclass(frozen=True)
class _Table:
    """A live table as the catalog's metadata has it (read without scanning the table)."""

    inlined_rows: int  # rows kept inline in the catalog, live or deleted but kept for time travel
    delete_files: int  # delete files in use


def maintain(
    lake: Lake, retention_hours: float, *, keep_all_minutes: float = 10.0, flush_rows: int = FLUSH_ROWS
) -> Maintained:
    """Expire snapshots (all older than ``retention_hours``; between ``keep_all_minutes`` and
    that, all but the last of each hour; never one a provisional window still needs), write
    tables' inlined rows to Parquet once there are ``flush_rows`` of them, rewrite files mostly
    of deleted rows, merge small files, and delete the files no snapshot needs. Each step runs
    only when it has something to do (as the catalog's metadata says), so that a maintenance
    of a lake in order is cheap."""
    started = time.monotonic()
    done = Maintained()
    configure(lake)
    tables = _tables(lake)
    retention = float(retention_hours) * 3600
    keep_all = min(float(keep_all_minutes) * 60, retention)
    expire: list[int] = []
    if _count(  # (snapshots of the last keep_all seconds all stay: nothing to decide)
        lake,
        f"SELECT count(*) FROM {META}.ducklake_snapshot WHERE snapshot_time < now() - INTERVAL '{keep_all:.3f} seconds'",
    ):
        expire = _snapshots_to_expire(lake, retention, keep_all, (INTERNAL_SCHEMA, "clocks") in tables)
    if expire:
        ids = ", ".join(str(s) for s in expire)
        _run(lake, f"CALL ducklake_expire_snapshots('{LAKE}', versions => [{ids}])")
    _drop_old_rows(lake, tables)
    # The dedupe state's keys expire every commit: its deleted rows go at every maintenance.
    dedupe = tables.get((INTERNAL_SCHEMA, "dedupe"))
    if dedupe and dedupe.inlined_rows:
        _run(
            lake,
            f"CALL ducklake_flush_inlined_data('{LAKE}', schema_name => '{INTERNAL_SCHEMA}', table_name => 'dedupe')",
        )
    if dedupe and (dedupe.inlined_rows or dedupe.delete_files):
        _run(
            lake,
            f"CALL ducklake_rewrite_data_files('{LAKE}', 'dedupe', schema => '{INTERNAL_SCHEMA}', delete_threshold => 0.1)",
        )
    flush = sorted(t for t, state in tables.items() if state.inlined_rows >= flush_rows)
    for schema, table in flush:
        _run(
            lake,
            f"CALL ducklake_flush_inlined_data('{LAKE}', schema_name => ?, table_name => ?)",
            [schema, table],
        )
    if flush or any(state.delete_files for state in tables.values()):
        # Files mostly of deleted rows (state tables whose rows are replaced every commit,
        # MERGE targets) are rewritten with only the rows some snapshot still needs.
        _run(lake, f"CALL ducklake_rewrite_data_files('{LAKE}', delete_threshold => {REWRITE_DELETED_SHARE})")
    if _count(
        lake,
        f"SELECT count(*) FROM (SELECT table_id FROM {META}.ducklake_data_file WHERE end_snapshot IS NULL "
        f"AND file_size_bytes < {MERGE_BELOW_BYTES} GROUP BY table_id HAVING count(*) > 1)",
    ):
        merged = _run(
            lake, f"FROM ducklake_merge_adjacent_files('{LAKE}', max_file_size => {MERGE_BELOW_BYTES})"
        )
        done.files_merged = sum(int(r[2]) for r in merged)
    # A query that started before this maintenance may still read a file merged away just now:
    # files wait as long as recent snapshots are kept before they are deleted.
    _run(
        lake,
        f"CALL ducklake_cleanup_old_files('{LAKE}', older_than => now() - INTERVAL '{keep_all:.0f} seconds')",
    )
    done.snapshots_expired = len(expire)
    done.tables_flushed = len(flush)
    done.seconds = time.monotonic() - started
    return done


def _drop_old_rows(lake: Lake, tables: dict[tuple[str, str], _Table]) -> None:
    """A commit adds a row to ``headwater.clocks`` (a table's clock is its newest) and to the
    logs behind ``system.jobs``, ``watermarks`` and ``offsets`` (``headwater.lake.latest``):
    keep only each key's newest, in one commit. (A delete that finds nothing commits nothing.)"""
    deletes = [
        f"DELETE FROM {LAKE}.{INTERNAL_SCHEMA}.clocks c WHERE last_commit < (SELECT max(last_commit) "
        f"FROM {LAKE}.{INTERNAL_SCHEMA}.clocks d WHERE d.table_name = c.table_name)"
    ] * ((INTERNAL_SCHEMA, "clocks") in tables)
    deletes += [view.older_rows() for view in VIEWS if (INTERNAL_SCHEMA, view.log) in tables]
    if deletes:
        try:
            with lake.transaction():
                for sql in deletes:
                    lake.execute(sql)
        except duckdb.Error as e:
            raise LakeError(f"lake maintenance failed at `DELETE`: {str(e).strip()}") from None


def _tables(lake: Lake) -> dict[tuple[str, str], _Table]:
    """Every live table: its rows inline in the catalog and its delete files in use."""
    rows = lake.fetchall(
        f"SELECT s.schema_name, t.table_name, t.table_id, "
        f"(SELECT count(*) FROM {META}.ducklake_delete_file d WHERE d.table_id = t.table_id AND d.end_snapshot IS NULL) "
        f"FROM {META}.ducklake_table t "
        f"JOIN {META}.ducklake_schema s ON s.schema_id = t.schema_id AND s.end_snapshot IS NULL "
        "WHERE t.end_snapshot IS NULL"
    )
    parts = lake.fetchall(f"SELECT table_id, table_name FROM {META}.ducklake_inlined_data_tables")
    inlined: dict[int, int] = {}
    if parts:
        counts = " UNION ALL ".join(
            f"SELECT {int(i)} AS table_id, count(*) AS n FROM {META}.{quote(t)}" for i, t in parts
        )
        inlined = {
            int(r[0]): int(r[1])
            for r in lake.fetchall(f"SELECT table_id, sum(n) FROM ({counts}) GROUP BY ALL")
        }
    return {(str(r[0]), str(r[1])): _Table(inlined.get(int(r[2]), 0), int(r[3])) for r in rows}


def _snapshots_to_expire(lake: Lake, retention: float, keep_all: float, views: bool) -> list[int]:
    """Snapshot ids to expire: none of the last ``keep_all`` seconds, the last of each hour
    within ``retention``, the newest, those of provisional windows not replaced yet, and those
    incremental views still read (within ``retention``, every snapshot from the oldest that
    one of them last read: a refresh reads the changes of each snapshot since, and recomputes
    in full when one of them is gone)."""
    remembered = (
        f"""UNION ALL
            SELECT snapshot_id FROM s WHERE snapshot_time >= now() - INTERVAL '{retention:.3f} seconds'
              AND snapshot_id >= (SELECT min(read_snapshot) FROM {LAKE}.{INTERNAL_SCHEMA}.clocks)"""
        if views
        else ""
    )
    rows = lake.fetchall(
        f"""
        WITH s AS (SELECT snapshot_id, snapshot_time, commit_message, commit_extra_info FROM {LAKE}.snapshots()),
        keep AS (
            SELECT max(snapshot_id) AS id FROM s
            UNION ALL
            SELECT snapshot_id FROM s WHERE snapshot_time >= now() - INTERVAL '{keep_all:.3f} seconds'
            UNION ALL
            SELECT max(snapshot_id) FROM s WHERE snapshot_time >= now() - INTERVAL '{retention:.3f} seconds'
            GROUP BY time_bucket(INTERVAL 1 HOUR, snapshot_time)
            UNION ALL
            SELECT s.snapshot_id FROM s JOIN {LAKE}.{INTERNAL_SCHEMA}.provisional p
              ON s.commit_message = ?
             AND json_extract_string(s.commit_extra_info, '$.job') = p.job
             AND CAST(json_extract(s.commit_extra_info, '$.run_id') AS BIGINT) = p.run_id
{remembered}
        )
        SELECT snapshot_id FROM s WHERE snapshot_id NOT IN (SELECT id FROM keep WHERE id IS NOT NULL)
        ORDER BY snapshot_id
        """,
        [PROVISIONAL_COMMIT],
    )
    return [int(r[0]) for r in rows]


def _run(lake: Lake, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    try:
        return lake.fetchall(sql, params)
    except duckdb.Error as e:
        raise LakeError(f"lake maintenance failed at `{sql.split('(')[0]}`: {str(e).strip()}") from None


def lake_shape(lake: Lake) -> dict[str, int]:
    """Counts that say how fragmented the lake is: snapshots, data and delete files in use,
    older files that kept snapshots still read, files no snapshot needs (deleted by the next
    maintenance), and rows kept inline in the catalog (live or deleted, not yet written out)."""
    shape = {
        "snapshots": _count(lake, f"SELECT count(*) FROM {LAKE}.snapshots()"),
        "data_files": _count(
            lake, f"SELECT count(*) FROM {META}.ducklake_data_file WHERE end_snapshot IS NULL"
        ),
        "delete_files": _count(
            lake, f"SELECT count(*) FROM {META}.ducklake_delete_file WHERE end_snapshot IS NULL"
        ),
        "old_files": _count(
            lake,
            f"SELECT (SELECT count(*) FROM {META}.ducklake_data_file WHERE end_snapshot IS NOT NULL) + "
            f"(SELECT count(*) FROM {META}.ducklake_delete_file WHERE end_snapshot IS NOT NULL)",
        ),
        "files_to_delete": _count(lake, f"SELECT count(*) FROM {META}.ducklake_files_scheduled_for_deletion"),
    }
    tables = lake.fetchall(f"SELECT table_name FROM {META}.ducklake_inlined_data_tables")
    shape["inlined_rows"] = sum(_count(lake, f"SELECT count(*) FROM {META}.{t}") for (t,) in tables)
    return shape


def _count(lake: Lake, sql: str) -> int:
    row = lake.fetchone(sql)
    return int(row[0]) if row and row[0] is not None else 0
