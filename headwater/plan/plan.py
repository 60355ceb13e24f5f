"""The plan: what `run` will change in the deployed pipeline, and in which order jobs run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from headwater.catalog.model import Catalog, Entry, EntryKind
from headwater.dialect.nodes import TableName
from headwater.plan.dag import DAG

Action = Literal["create", "update", "drop"]
_ORDER: dict[str, int] = {
    "connection": 0,
    "table": 1,
    "ingest_job": 2,
    "transform_job": 3,
    "materialized_view": 4,
}
_SYMBOL = {"create": "+", "update": "~", "drop": "-"}


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

    def explain(self) -> str:
        return f"{_SYMBOL[self.action]} {self.kind.replace('_', ' ')} {self.name}"


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # job and view names, in run order

    @property
    def empty(self) -> bool:
        return not self.changes

    def explain(self) -> list[str]:
        if not self.changes:
            return ["no changes: the deployed pipeline matches the project"]
        return [c.explain() for c in self.changes]


def node_name(entry: Entry) -> str:
    return entry.name


def build_dag(catalog: Catalog) -> DAG:
    """Jobs and views, each depending on whoever writes the tables it reads."""
    writers: dict[TableName, list[str]] = {}
    runnable = catalog.of_kind("ingest_job", "transform_job", "materialized_view")
    for entry in runnable:
        if entry.writes:
            writers.setdefault(entry.writes, []).append(node_name(entry))
    dag = DAG()
    for entry in runnable:
        deps = [w for table in entry.reads for w in writers.get(table, [])]
        dag.add(node_name(entry), deps)
    return dag


def diff(catalog: Catalog, deployed: list[Deployed]) -> list[Change]:
    current = {(e.kind, e.name): e for e in catalog.entries.values()}
    old = {(d.kind, d.name): d for d in deployed}
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


def make_plan(catalog: Catalog, deployed: list[Deployed]) -> Plan:
    return Plan(diff(catalog, deployed), build_dag(catalog).sorted())
