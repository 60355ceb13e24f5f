"""Provisional windows: a window that ran before it was final, and how its output is undone.

A window is *final* once it has closed (its end is not in the future) and every row of its
inputs that falls in it is final, i.e. was not written by a provisional window upstream.
``run --once`` also runs windows that are not final, so that everything available now is
processed; such a run is recorded in ``headwater.provisional`` and its commit is labelled with
the run id. When the job next runs, the window runs again and, in the same transaction, the
provisional output is undone: the rows the run inserted or updated (they carry its
``$run_id``) are deleted, and the rows it updated or deleted are put back as they were before
it, from DuckLake's change feed of that one commit. Readers see the old output or the new one,
never both, never neither.
"""

from __future__ import annotations

import json
from datetime import datetime

from headwater.lake import LAKE, Lake, qualified
from headwater.lake.maintenance import PROVISIONAL_COMMIT
from headwater.runner.errors import RunnerError
from headwater.state import store

COMMIT_MESSAGE = PROVISIONAL_COMMIT  # lake maintenance keeps these snapshots while they are needed
SYS = f"{LAKE}.system"


def label_commit(lake: Lake, job: str, run_id: int) -> None:
    """Inside the provisional window's transaction: name its snapshot, to find it again."""
    info = json.dumps({"job": job, "run_id": run_id})
    lake.execute(f"CALL {LAKE}.set_commit_message('headwater', ?, extra_info => ?)", [COMMIT_MESSAGE, info])


def _snapshot_of(lake: Lake, run: store.ProvisionalRun) -> int | None:
    row = lake.fetchone(
        f"SELECT max(snapshot_id) FROM {LAKE}.snapshots() WHERE commit_message = ? "
        "AND json_extract_string(commit_extra_info, '$.job') = ? "
        "AND CAST(json_extract(commit_extra_info, '$.run_id') AS BIGINT) = ?",
        [COMMIT_MESSAGE, run.job, run.run_id],
    )
    return int(row[0]) if row and row[0] is not None else None


def undo(lake: Lake, run: store.ProvisionalRun) -> None:
    """Inside a transaction: take back everything the provisional run wrote."""
    schema, _, name = run.target.partition(".")
    table = qualified(schema, name)
    if lake.table_exists(schema, name):
        snapshot = _snapshot_of(lake, run)
        if snapshot is None:
            raise RunnerError(
                f"job {run.job}: cannot find the lake snapshot of its provisional window "
                f"{run.window_start} - {run.window_end} (run {run.run_id}) to replace it",
                hint="the lake's snapshots were expired by hand; run `headwater replay` for that window",
            )
        # What the commit deleted or overwrote, except the output of earlier provisional runs
        # that the same commit took back (replacing a window undoes the run before it first).
        changes = (
            f"ducklake_table_changes('{LAKE}', '{schema}', '{name}', {snapshot}, {snapshot}) "
            "WHERE change_type IN ('delete', 'update_preimage') AND \"$run_id\" NOT IN "
            f"(SELECT run_id FROM {SYS}.runs WHERE job = ? AND status = 'replaced')"
        )
        restore = lake.con.execute(
            f"SELECT * EXCLUDE (snapshot_id, rowid, change_type) FROM {changes}", [run.job]
        ).to_arrow_table()
        lake.execute(f'DELETE FROM {table} WHERE "$run_id" = ?', [run.run_id])
        if restore.num_rows:
            lake.con.register("hw_restore", restore)
            try:
                lake.execute(f"INSERT INTO {table} BY NAME SELECT * FROM hw_restore")
            finally:
                lake.con.unregister("hw_restore")
    lake.execute(f"DELETE FROM {SYS}.quarantine WHERE job = ? AND run_id = ?", [run.job, run.run_id])
    lake.execute(f"DELETE FROM {SYS}.expectations WHERE job = ? AND run_id = ?", [run.job, run.run_id])
    store.forget_provisional(lake, run)


def is_final(end: datetime, now: datetime, inputs_final_until: datetime | None) -> bool:
    """A window is final once closed and no input row in it may still be replaced upstream."""
    return end <= now and (inputs_final_until is None or end <= inputs_final_until)
