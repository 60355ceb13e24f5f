"""``exact_nested``: the check of a nested JSON value against its planned structure reads each
object once and agrees, on any value, with checking every leaf through its own JSON path."""

from __future__ import annotations

import json
import re
from typing import Any

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.sources.exact import lossless
from headwater.sources.nested import exact_nested

LEAVES = ["BIGINT", "DOUBLE", "VARCHAR", "BOOLEAN", "TIMESTAMP", "DATE"]
NAMES = ["a", "B", "c"]


def _reference(value: str, node: Any, depth: int = 0) -> str:
    """The same check with every field extracted through its own path (the previous form)."""
    absent = f"{value} IS NULL OR json_type({value}) = 'NULL'"
    if isinstance(node, dict):
        fields = [
            _reference(f"json_extract({value}, '$.{json.dumps(k)}')", sub, depth) for k, sub in node.items()
        ]
        names = ", ".join(f"'{k.lower()}'" for k in node)
        exact = ", ".join(f"'{k}'" for k in node)
        k = f"__ref_k{depth}"
        fields.append(
            f"NOT coalesce(list_bool_or(list_transform(json_keys({value}), lambda {k}: "
            f"list_contains([{names}], lower({k})) AND NOT list_contains([{exact}], {k}))), false)"
        )
        inner = " AND ".join(f for f in fields if f != "true") or "true"
        return f"({absent} OR (json_type({value}) = 'OBJECT' AND {inner}))"
    if isinstance(node, list):
        x = f"__ref_x{depth}"
        inner = _reference(x, node[0], depth + 1)
        every = f"coalesce(list_bool_and(list_transform(json_extract({value}, '$[*]'), lambda {x}: {inner})), true)"
        return f"({absent} OR (json_type({value}) = 'ARRAY' AND {every}))"
    if node == "VARCHAR":
        return "true"
    text = f"json_extract_string({value}, '$')"
    return f"({text} IS NULL OR ({lossless(text, node)}) IS NOT NULL)"


nodes = st.recursive(
    st.sampled_from(LEAVES),
    lambda inner: (
        st.dictionaries(st.sampled_from(NAMES), inner, min_size=1, max_size=3)
        | st.lists(inner, min_size=1, max_size=1)
    ),
    max_leaves=6,
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["1.5", "7", "2026-01-02", "2026-01-02T03:04:05.123456", "2026-01-02T03:04:05Z", "x"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "A", "B", "b", "c", "d"]), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(node=nodes, docs=st.lists(values, min_size=1, max_size=8))
def test_exact_nested_agrees_with_a_path_per_leaf(node: Any, docs: list[Any]) -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, j JSON)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [[i, json.dumps(d)] for i, d in enumerate(docs)])
    rows = con.sql(
        f"SELECT i, {exact_nested('j', node)}, {_reference('j', node)} FROM t ORDER BY i"
    ).fetchall()
    assert [(i, a) for i, a, _ in rows] == [(i, b) for i, _, b in rows], (node, docs)


def test_an_object_is_parsed_once_for_all_its_fields() -> None:
    """Each field's text comes from one ``json_transform`` of its object, not a path each."""
    sql = exact_nested(
        "j", {"id": "BIGINT", "price": "DOUBLE", "when": "TIMESTAMP", "address": {"zip": "BIGINT"}}
    )
    assert len(re.findall(r"json_transform\(", sql)) == 2  # the object and its address
    assert "json_extract" not in sql


def test_an_array_of_objects_is_parsed_once_for_all_its_elements() -> None:
    """Every element's type, keys and fields come from ``$[*]`` over the array, not a
    ``json_extract`` and a lambda of JSON functions per element."""
    sql = exact_nested("j", [{"sku": "VARCHAR", "qty": "BIGINT", "price": "DOUBLE"}])
    assert "json_extract" not in sql
    assert sql.count("json_transform(") == 1 and sql.count("'$[*]'") == 2
