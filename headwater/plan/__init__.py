"""Catalog + deployed state -> DAG and plan."""

from headwater.plan.dag import DAG
from headwater.plan.errors import CycleError
from headwater.plan.plan import Change, Deployed, Plan, build_dag, make_plan

__all__ = ["DAG", "Change", "CycleError", "Deployed", "Plan", "build_dag", "make_plan"]
