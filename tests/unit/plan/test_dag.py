from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.plan.dag import DAG
from headwater.plan.errors import CycleError


def test_order_is_topological_and_deterministic() -> None:
    dag = DAG()
    dag.add("gold", ["silver_b", "silver_a"])
    dag.add("silver_a", ["bronze"])
    dag.add("silver_b", ["bronze"])
    dag.add("bronze")
    dag.add("other")
    assert dag.sorted() == ["bronze", "other", "silver_a", "silver_b", "gold"]


def test_cycle_names_the_exact_path() -> None:
    dag = DAG()
    dag.add("a", ["c"])
    dag.add("b", ["a"])
    dag.add("c", ["b"])
    dag.add("d", ["a"])
    with pytest.raises(CycleError) as info:
        dag.sorted()
    assert info.value.cycle == ["a", "b", "c", "a"]
    assert "a -> b -> c -> a" in str(info.value)


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=40))
def test_any_acyclic_graph_sorts_with_every_edge_respected(edges: list[tuple[int, int]]) -> None:
    dag = DAG()
    for a, b in edges:
        lo, hi = sorted((a, b))
        dag.add(f"n{hi:02d}", [f"n{lo:02d}"])  # edges only go up: never a cycle
    order = dag.sorted()
    assert order == DAG.sorted(dag)
    pos = {n: i for i, n in enumerate(order)}
    for node, ups in dag.upstream.items():
        assert all(pos[u] < pos[node] for u in ups)
