"""Job control against the deployed pipeline: ``ALTER JOB ... SET``, ``DROP ...``, and what
``plan`` says about the data and the health of each job.

The project's files are the desired state, so interactive statements never contradict them:

- ``ALTER JOB <job> SET <option> = <value>`` overrides one option of the deployed job, on top
  of its file (recorded in ``headwater.job_overrides``, applied from the job's next start),
  until the job's statement in the files changes: then the files win again.
- ``DROP JOB | TABLE | MATERIALIZED VIEW | CONNECTION`` of something still in the files is
  refused, naming where it is declared and what depends on it (``run`` would create it again).
  Something removed from the files but still deployed (``run`` has not applied that yet) is
  dropped now, as ``run --allow-drop`` would.
"""

from __future__ import annotations

import dataclasses

from headwater.catalog.model import Catalog, Entry, EntryKind
from headwater.dialect import parse
from headwater.dialect.nodes import (
    INGEST_OPTION_FIELDS,
    TRANSFORM_OPTION_FIELDS,
    AlterJob,
    CreateIngestJob,
    Drop,
    SetOption,
    option_value_sql,
)
from headwater.errors import UserError
from headwater.lake import INTERNAL_SCHEMA, LAKE, SYSTEM_SCHEMA, Lake, qualified
from headwater.plan.plan import Plan
from headwater.runner.deploy import DEPLOYED, OVERRIDES, load_deployed, source_changed
from headwater.runner.incremental import drop_state
from headwater.state import store

SET = "set_option"
_KIND: dict[str, EntryKind] = {
    "JOB": "ingest_job",
    "TABLE": "table",
    "MATERIALIZED VIEW": "materialized_view",
    "CONNECTION": "connection",
}


# -- ALTER JOB ... SET ---------------------------------------------------------------------------
def _fields(entry: Entry) -> dict[str, str]:
    return dict(INGEST_OPTION_FIELDS if entry.kind == "ingest_job" else TRANSFORM_OPTION_FIELDS)


def alter_set(lake: Lake, catalog: Catalog, stmt: AlterJob) -> tuple[str, str]:
    """Record ``ALTER JOB ... SET``; returns the option and its value as written."""
    assert isinstance(stmt.action, SetOption)
    entry = catalog.job(stmt.name)
    if entry is None:
        known = ", ".join(e.name for e in catalog.jobs) or "none"
        raise UserError(f"{stmt.pos}: no job named {stmt.name!r} (jobs: {known})")
    option = stmt.action.option
    if option not in _fields(entry):
        kind = entry.kind.replace("_job", "")
        raise UserError(
            f"{stmt.pos}: {option} is not an option of {kind} job {stmt.name}",
            hint=f"options of {kind} jobs: {', '.join(_fields(entry))}",
        )
    with lake.transaction():
        lake.execute(
            f"DELETE FROM {OVERRIDES} WHERE job = ? AND action = ? AND name = ?", [stmt.name, SET, option]
        )
        lake.execute(
            f"INSERT INTO {OVERRIDES} VALUES (?, ?, ?, ?, ?)",
            [stmt.name, SET, option, stmt.to_sql(), store.utcnow()],
        )
    return option, option_value_sql(option, stmt.action.value)


def overrides(lake: Lake) -> dict[str, list[SetOption]]:
    """Each job's ``ALTER JOB ... SET`` options, oldest first."""
    out: dict[str, list[SetOption]] = {}
    for job, sql in lake.fetchall(f'SELECT job, sql FROM {OVERRIDES} WHERE action = ? ORDER BY "at"', [SET]):
        stmt = parse(sql)[0]
        if isinstance(stmt, AlterJob) and isinstance(stmt.action, SetOption):
            out.setdefault(job, []).append(stmt.action)
    return out


def with_overrides(lake: Lake, catalog: Catalog) -> Catalog:
    """The catalog with each job's ``ALTER JOB ... SET`` options in place of its file's."""
    found = overrides(lake)
    if not found:
        return catalog
    entries = dict(catalog.entries)
    for job, sets in found.items():
        entry = catalog.job(job)
        if entry is None:
            continue
        stmt = entry.statement
        fields = _fields(entry)
        changes = {fields[s.option]: s.value for s in sets if s.option in fields}
        options = dataclasses.replace(stmt.options, **changes)  # type: ignore[attr-defined]
        statement = dataclasses.replace(stmt, options=options)  # type: ignore[call-arg]
        entries[(entry.kind, job)] = dataclasses.replace(entry, statement=statement)
    return Catalog(entries, catalog.queries)


def forget_overrides(lake: Lake, job: str) -> None:
    """The job's statement in the files changed: the files win over ``ALTER JOB ... SET``."""
    lake.execute(f"DELETE FROM {OVERRIDES} WHERE job = ? AND action = ?", [job, SET])


# -- DROP ----------------------------------------------------------------------------------------
def _users(catalog: Catalog, stmt: Drop) -> list[Entry]:
    if stmt.kind == "CONNECTION":
        return [
            e
            for e in catalog.of_kind("ingest_job")
            if isinstance(e.statement, CreateIngestJob) and e.statement.source.connection == stmt.name
        ]
    if stmt.kind == "JOB":
        return []  # (dropping a job keeps its table: what reads the table is not affected)
    declared = _declared(catalog, stmt)
    return [
        e
        for e in catalog.of_kind("ingest_job", "transform_job", "materialized_view")
        if e is not declared and stmt.name in {str(t) for t in [*e.reads, e.writes] if t}
    ]


def _declared(catalog: Catalog, stmt: Drop) -> Entry | None:
    if stmt.kind == "JOB":
        return catalog.job(stmt.name)
    if stmt.kind in ("TABLE", "MATERIALIZED VIEW"):  # (a view is a table too)
        return catalog.entries.get(("table", stmt.name)) or catalog.entries.get(
            ("materialized_view", stmt.name)
        )
    return catalog.entries.get((_KIND[stmt.kind], stmt.name))


def check_drop(stmt: Drop, catalog: Catalog, *, allow_writes: bool) -> None:
    """Refuse a DROP of what the files still declare or use (naming it), or one that deletes
    data without ``--allow-writes``."""
    what = f"{stmt.kind.lower()} {stmt.name}"
    schema = stmt.name.partition(".")[0]
    if stmt.kind in ("TABLE", "MATERIALIZED VIEW") and schema in (SYSTEM_SCHEMA, INTERNAL_SCHEMA):
        raise UserError(f"{stmt.pos}: {stmt.name} is one of Headwater's own tables and cannot be dropped")
    if stmt.kind != "CONNECTION" and not allow_writes:
        lost = "positions" if stmt.kind == "JOB" else "rows"
        raise UserError(
            f"{stmt.pos}: DROP {stmt.kind} deletes the {stmt.kind.lower()}'s {lost}: `headwater query` is read-only",
            hint="confirm with `headwater query --allow-writes`",
        )
    users = _users(catalog, stmt)
    declared = _declared(catalog, stmt)
    if users:
        named = ", ".join(f"{e.kind.replace('_', ' ')} {e.name} ({e.statement.pos})" for e in users)
        where = f" (declared at {declared.statement.pos})" if declared else ""
        raise UserError(
            f"{stmt.pos}: {what}{where} cannot be dropped: {named} still use{'s' if len(users) == 1 else ''} it",
            hint="remove or change those statements in the project's files first",
        )
    if declared is not None:
        what = f"{declared.kind.replace('_', ' ')} {stmt.name}"
        raise UserError(
            f"{stmt.pos}: {what} is declared at {declared.statement.pos}: the project's files are the "
            "source of truth, and `run` would create it again",
            hint="remove its statement from the files, then `headwater plan` and `headwater run --allow-drop` "
            "(or DROP it here)",
        )


def drop(lake: Lake, stmt: Drop) -> None:
    """Drop something checked by ``check_drop`` (not in the files): what `run --allow-drop`
    would do for it, in one transaction, and it leaves the deployed record."""
    deployed = {(d.kind, d.name) for d in load_deployed(lake)}
    kinds: tuple[str, ...] = ("ingest_job", "transform_job") if stmt.kind == "JOB" else (_KIND[stmt.kind],)
    known = [k for k in kinds if (k, stmt.name) in deployed]
    schema, _, name = stmt.name.partition(".")
    exists = stmt.kind in ("TABLE", "MATERIALIZED VIEW") and lake.table_exists(schema, name)
    if not known and not exists:
        raise UserError(f"{stmt.pos}: no {stmt.kind.lower()} named {stmt.name}")
    with lake.transaction():
        if stmt.kind == "JOB":
            store.clear_job(lake, stmt.name)
        elif stmt.kind in ("TABLE", "MATERIALIZED VIEW"):
            lake.execute(f"DROP TABLE IF EXISTS {qualified(schema, name)}")
            lake.execute(f"DELETE FROM {LAKE}.{INTERNAL_SCHEMA}.clocks WHERE table_name = ?", [stmt.name])
            lake.execute(f"DELETE FROM {LAKE}.{INTERNAL_SCHEMA}.provisional WHERE target = ?", [stmt.name])
            lake.execute(f"DELETE FROM {LAKE}.{INTERNAL_SCHEMA}.views WHERE view_name = ?", [stmt.name])
            drop_state(lake, stmt.name)  # an incremental view's state tables and snapshots
        lake.execute(
            f"DELETE FROM {DEPLOYED} WHERE list_contains(?, kind) AND name = ?", [list(kinds), stmt.name]
        )


# -- what plan says ------------------------------------------------------------------------------
def annotate(lake: Lake, catalog: Catalog, plan: Plan) -> Plan:
    """Add to the plan what each change does to the data already there, the options set by
    ``ALTER JOB``, and which jobs are failed or blocked (and by what)."""
    sets = overrides(lake)
    for change in plan.changes:
        notes: list[str] = []
        entry = catalog.entries.get((change.kind, change.name))
        if change.action == "update" and change.kind == "transform_job":
            notes.extend(_transform_notes(lake, change.name))
        elif change.action == "update" and change.kind == "ingest_job" and entry is not None:
            stmt = entry.statement
            assert isinstance(stmt, CreateIngestJob)
            if source_changed(stmt, change.old_sql or ""):
                notes.append(
                    "reads its source again from START_FROM (it reads another connection or PATTERN): "
                    "its positions are cleared; rows already in the table stay"
                )
            else:
                notes.append(
                    "keeps its position: the records it reads from now on use the new statement; rows already written stay"
                )
        elif change.action == "update" and change.kind == "materialized_view":
            notes.append("recomputed from its new query")
        if change.action == "update" and change.name in sets:
            shown = ", ".join(s.to_sql().removeprefix("SET ") for s in sets[change.name])
            notes.append(f"its ALTER JOB ... SET options ({shown}) give way to the file")
        if notes:  # (before the warnings that make_plan put there)
            plan.notes[change.name] = notes + plan.notes.get(change.name, [])
    changed = {c.name for c in plan.changes if c.action == "update"}
    for job, options in sorted(sets.items()):
        if job not in changed and catalog.job(job) is not None:
            shown = ", ".join(s.to_sql().removeprefix("SET ") for s in options)
            plan.health.append(f"* job {job} runs with {shown} (ALTER JOB ... SET; not in its file)")
    plan.health.extend(health(lake, catalog))
    return plan


def _transform_notes(lake: Lake, job: str) -> list[str]:
    state = store.load_job_state(lake, job)
    if state.next_window is None:
        return ["it has not run yet: its first window uses the new SQL"]
    row = lake.fetchone(
        f"SELECT min(window_start) FROM {LAKE}.{SYSTEM_SCHEMA}.runs WHERE job = ? AND status = 'succeeded'",
        [job],
    )
    notes = [
        f"windows from {state.next_window.isoformat()} on use the new SQL; the rows already written stay"
    ]
    if row and row[0] is not None:
        notes.append(
            f"to rewrite them with the new SQL: `headwater replay {job} --from {row[0].isoformat()}`"
        )
    return notes


def health(lake: Lake, catalog: Catalog) -> list[str]:
    """``! job x failed: <error>`` and ``! job y blocked by x`` for the project's jobs and views."""
    names = {e.name for e in [*catalog.jobs, *catalog.views]} | {
        e.name.removeprefix("main.") for e in catalog.views
    }
    out = []
    rows = lake.fetchall(
        f"SELECT name, kind, status, error FROM {LAKE}.{SYSTEM_SCHEMA}.jobs "
        "WHERE status IN ('failed', 'blocked', 'retrying') ORDER BY name"
    )
    for name, kind, status, error in rows:
        if name not in names:
            continue
        first = (error or "").splitlines()[0] if error else ""
        kind = f"{kind} job" if kind in ("ingest", "transform") else kind.replace("_", " ")
        if status == "blocked":
            out.append(f"! {kind} {name} {first}")
        else:
            out.append(f"! {kind} {name} {status}: {first}")
    return out
