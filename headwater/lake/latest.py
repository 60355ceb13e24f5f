"""System tables that are views of the newest row of each key in an internal table.

A commit that replaced a job's row in a table (a delete, then an insert) paid DuckLake about
10 ms of catalog work for the delete alone: DuckLake reads the table's files and inlined rows
to find the row. So the state a commit rewrites for each job is kept as rows appended to an
internal table (``headwater.<log>``), and ``system.<name>`` is a view of each key's newest
row. ``rowid`` orders them: DuckLake numbers rows in the order they were written and keeps the
numbers through compaction, and the rows of the open transaction come after every committed
one. ``lake.maintenance`` deletes the older rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from headwater.lake.names import INTERNAL_SCHEMA, LAKE, SYSTEM_SCHEMA


@dataclass(frozen=True)
class Latest:
    """``system.<name>``: the newest row of each ``key`` in ``headwater.<log>``."""

    name: str
    log: str
    columns: str  # the view's and the log's columns, in order (SQL)
    types: str  # the log's column definitions (SQL)
    key: str  # what identifies a row of the view (SQL)
    since: int  # the state version from which it is a view (before: a table of its own)

    def view_sql(self) -> str:
        """The view's query (bound in the lake's own catalog, whatever name it is attached as)."""
        return (
            f"SELECT {self.columns} FROM {INTERNAL_SCHEMA}.{self.log} "
            f"QUALIFY row_number() OVER (PARTITION BY {self.key} ORDER BY rowid DESC) = 1"
        )

    @property
    def log_table(self) -> str:
        return f"{LAKE}.{INTERNAL_SCHEMA}.{self.log}"

    @property
    def view(self) -> str:
        return f"{LAKE}.{SYSTEM_SCHEMA}.{self.name}"

    def older_rows(self) -> str:
        """A DELETE of every row that a newer row of its key hides."""
        same = " AND ".join(f"d.{k} = c.{k}" for k in self.key.split(", "))
        return (
            f"DELETE FROM {self.log_table} c WHERE rowid < "
            f"(SELECT max(rowid) FROM {self.log_table} d WHERE {same})"
        )


JOBS = Latest(
    "jobs",
    "job_status",
    "name, kind, status, target, last_run, lag_seconds, error",
    """name VARCHAR, kind VARCHAR, status VARCHAR, target VARCHAR, last_run TIMESTAMPTZ,
        lag_seconds DOUBLE, error VARCHAR""",
    "name",
    4,
)
# Each job's watermark: ingestion jobs, from what they committed; SYNC transformation jobs,
# the end of the windows they completed (see docs/jobs-and-windows.md).
WATERMARKS = Latest(
    "watermarks",
    "watermark_status",
    "job, kind, watermark, max_event_time, updated_at",
    """job VARCHAR, kind VARCHAR, watermark TIMESTAMPTZ, max_event_time TIMESTAMPTZ,
        updated_at TIMESTAMPTZ""",
    "job",
    5,
)
# Each job's position in each file or partition (and, for streams, how far behind it is).
OFFSETS = Latest(
    "offsets",
    "offset_status",
    'job, "partition", position, line, committed_at, end_position, behind, seconds_behind, connection',
    """job VARCHAR, "partition" VARCHAR, position BIGINT, line BIGINT, committed_at TIMESTAMPTZ,
        end_position BIGINT, behind BIGINT, seconds_behind DOUBLE, connection VARCHAR""",
    'job, "partition"',
    5,
)
VIEWS = (JOBS, WATERMARKS, OFFSETS)
