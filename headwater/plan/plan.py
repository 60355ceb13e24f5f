"""The plan: what `run` will change in the deployed pipeline, and in which order jobs run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from headwater.catalog.model import Catalog, Entry, EntryKind
from headwater.catalog.warnings import window_warning
from headwater.dialect.nodes import TableName
from headwater.plan.dag import DAG
from headwater.plan.errors import CycleError, DropNotAllowed
from headwater.plan.incremental import analyse

Action = Literal["create", "update", "drop"]
_ORDER: dict[str, int] = {
    "connection": 0,
    "table": 1,
    "ingest_job": 2,
    "transform_job": 3,
    "materialized_view": 4,
}
_SYMBOL = {"create": "+", "update": "~", "drop": "-"}
# Drops that lose what `run` cannot rebuild: a table's rows, a job's source positions and
# windows. A connection or a materialized view (recomputed from its query) loses nothing.
_DESTRUCTIVE: frozenset[str] = frozenset({"table", "ingest_job", "transform_job"})
ALLOW_DROP = "--allow-drop"


@dataclass(frozen=True)
class Deployed:
    kind: EntryKind
    name: str
    fingerprint: str
    sql: str


@dataclass(frozen=True)
class Change:
    action: Action
    kind: EntryKind
    name: str
    sql: str  # the new SQL (create/update) or the deployed SQL (drop)
    old_sql: str | None = None

    @property
    def destructive(self) -> bool:
        return self.action == "drop" and self.kind in _DESTRUCTIVE

    def explain(self) -> str:
        line = f"{_SYMBOL[self.action]} {self.kind.replace('_', ' ')} {self.name}"
        if self.destructive:
            lost = "its rows" if self.kind == "table" else "its source positions and windows"
            line += f" (deletes {lost}: needs `run {ALLOW_DROP}`)"
        return line


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # job and view names, in run order
    kept: list[str] = field(default_factory=list)  # tables no longer declared but still used
    # view name -> "incremental" or "full recompute: <why>" (how `run` refreshes it)
    refresh: dict[str, str] = field(default_factory=dict)
    # What a change does to the data already there, by the changed entry's name (filled in
    # from the deployed state: ``runner.control.annotate``), and the jobs failed or blocked.
    notes: dict[str, list[str]] = field(default_factory=dict)
    health: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def destructive(self) -> list[Change]:
        """The drops that need an explicit ``allow_drop``."""
        return [c for c in self.changes if c.destructive]

    def check_drops(self, allow_drop: bool) -> None:
        """Refuse, before anything changes, a plan that deletes data without ``allow_drop``."""
        if self.destructive and not allow_drop:
            raise DropNotAllowed([f"{c.kind.replace('_', ' ')} {c.name}" for c in self.destructive])

    def explain(self) -> list[str]:
        kept = [f"= table {name} kept: a job or view still uses it" for name in self.kept]
        if not self.changes:
            return ["no changes: the deployed pipeline matches the project", *kept, *self.health]
        lines = []
        for c in self.changes:
            lines.append(c.explain())
            lines.extend(f"    {note}" for note in self.notes.get(c.name, []))
        return lines + kept + self.health

    def explain_refresh(self) -> list[str]:
        """How each view refreshes: ``view <name>: incremental`` or ``... full recompute: <why>``."""
        return [f"view {name}: {how}" for name, how in sorted(self.refresh.items())]


_RUNNABLE: tuple[EntryKind, ...] = ("ingest_job", "transform_job", "materialized_view")


def node_name(entry: Entry) -> str:
    return entry.name


def build_dag(catalog: Catalog) -> DAG:
    """Jobs and views, each depending on whoever writes the tables it reads."""
    writers: dict[TableName, list[str]] = {}
    runnable = catalog.of_kind(*_RUNNABLE)
    for entry in runnable:
        if entry.writes:
            writers.setdefault(entry.writes, []).append(node_name(entry))
    dag = DAG()
    for entry in runnable:
        deps = [w for table in entry.reads for w in writers.get(table, [])]
        dag.add(node_name(entry), deps)
    return dag


def kept_tables(catalog: Catalog, deployed: list[Deployed]) -> list[str]:
    """Declared tables whose CREATE TABLE was removed while a job or view of the project
    still writes or reads them: they stay, as if the job had created them."""
    used = {str(t) for e in catalog.of_kind(*_RUNNABLE) for t in [*e.reads, e.writes] if t}
    return sorted(
        d.name
        for d in deployed
        if d.kind == "table" and ("table", d.name) not in catalog.entries and d.name in used
    )


def run_order(catalog: Catalog) -> list[str]:
    """Jobs and views in run order; a cycle error names where each of its statements is."""
    try:
        return build_dag(catalog).sorted()
    except CycleError as e:
        places = {node_name(entry): str(entry.statement.pos) for entry in catalog.of_kind(*_RUNNABLE)}
        raise CycleError(e.cycle, places) from None


def diff(catalog: Catalog, deployed: list[Deployed]) -> list[Change]:
    current = {(e.kind, e.name): e for e in catalog.entries.values()}
    kept = set(kept_tables(catalog, deployed))
    old = {(d.kind, d.name): d for d in deployed if not (d.kind == "table" and d.name in kept)}
    changes: list[Change] = []
    for key, entry in current.items():
        before = old.get(key)
        if before is None:
            changes.append(Change("create", entry.kind, entry.name, entry.sql))
        elif before.fingerprint != entry.fingerprint:
            changes.append(Change("update", entry.kind, entry.name, entry.sql, before.sql))
    for key, before in old.items():
        if key not in current:
            changes.append(Change("drop", before.kind, before.name, before.sql))
    # Creates/updates in dependency order (connections, tables, jobs, views); drops last, reversed.
    ups = sorted((c for c in changes if c.action != "drop"), key=lambda c: (_ORDER[c.kind], c.name))
    drops = sorted((c for c in changes if c.action == "drop"), key=lambda c: (-_ORDER[c.kind], c.name))
    return ups + drops


def make_plan(catalog: Catalog, deployed: list[Deployed], refresh: dict[str, str] | None = None) -> Plan:
    """``refresh``: how each view refreshes (default: from its query alone, see
    ``plan.incremental``; `run` knows more, from the lake)."""
    if refresh is None:
        refresh = {}
        for entry in catalog.views:
            refresh[str(entry.writes)] = analyse(entry.statement.query).describe()  # type: ignore[attr-defined]
    plan = Plan(diff(catalog, deployed), run_order(catalog), kept_tables(catalog, deployed), refresh)
    for change in plan.changes:  # (a job created or changed: said when it is, not at every plan)
        changed = catalog.entries.get((change.kind, change.name))
        warning = window_warning(changed) if changed and change.action != "drop" else None
        if warning:
            plan.notes.setdefault(change.name, []).append(f"warning: {warning}")
    return plan
