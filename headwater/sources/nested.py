"""Checking nested values: DuckDB's ``json_transform`` converts the fields of objects and the
elements of arrays without checks (``2.5`` into a BIGINT field is ``2``, a too-large integer or
an object where a number was planned is ``NULL``). Before such a value is stored, every leaf is
checked against its JSON text with the same rules as top-level values
(``headwater.sources.exact.lossless``), and the record is quarantined if one would change."""

from __future__ import annotations

import functools
import json
from typing import Any

import duckdb

from headwater.sources.exact import lossless

# Leaf types that hold any JSON value as it is (a number or an object as its text).
_TEXT = {"VARCHAR", "JSON", "NULL"}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def exact_nested(value: str, node: Any, depth: int = 0) -> str:
    """SQL, TRUE when the JSON ``value`` converts to the json_transform structure ``node`` (an
    object of fields, a one-element list, or a type name) with no leaf changed or lost.

    An object is parsed once for the text of all its fields (``json_transform`` to VARCHAR,
    nested fields to JSON), bound to a lambda variable so that each field's checks read that
    text instead of extracting it again (DuckDB does not share common subexpressions inside
    lambdas or between the branches of a CASE)."""
    absent = f"{value} IS NULL OR json_type({value}) = 'NULL'"
    if isinstance(node, dict):
        s = f"__hw_s{depth}"
        checks: dict[str, str] = {}
        for name, sub in node.items():
            field = f"struct_extract({s}, {_literal(name)})"
            check = exact_nested(field, sub, depth + 1) if isinstance(sub, dict | list) else _leaf(field, sub)
            if check != "true":
                checks[name] = check
        parts = []
        if checks:
            spec = {k: "JSON" if isinstance(node[k], dict | list) else "VARCHAR" for k in checks}
            parts.append(
                f"list_transform([json_transform({value}, {_literal(json.dumps(spec))})], "
                f"lambda {s}: {' AND '.join(checks.values())})[1]"
            )
        # A key that is a field's name in another case would be lost (the field reads NULL).
        names = ", ".join(_literal(k.lower()) for k in node)
        exact = ", ".join(_literal(k) for k in node)
        k = f"__hw_k{depth}"
        parts.append(
            f"NOT coalesce(list_bool_or(list_transform(json_keys({value}), lambda {k}: "
            f"list_contains([{names}], lower({k})) AND NOT list_contains([{exact}], {k}))), false)"
        )
        return f"({absent} OR (json_type({value}) = 'OBJECT' AND {' AND '.join(parts)}))"
    if isinstance(node, list) and isinstance(node[0], dict):
        return _objects(value, node[0], depth)
    if isinstance(node, list):
        x = f"__hw_x{depth}"
        inner = exact_nested(x, node[0], depth + 1)
        every = (
            "true"
            if inner == "true"
            else f"coalesce(list_bool_and(list_transform(json_extract({value}, '$[*]'), lambda {x}: {inner})), true)"
        )
        return f"({absent} OR (json_type({value}) = 'ARRAY' AND {every}))"
    return _leaf(f"json_extract_string({value}, '$')", node)


def _objects(value: str, node: dict[str, Any], depth: int) -> str:
    """An array of objects, parsed once for every element's type, once for every element's
    keys and once for the text of all their fields (``$[*]`` paths), instead of once for each
    of those per element."""
    absent = f"{value} IS NULL OR json_type({value}) = 'NULL'"
    e = f"__hw_e{depth}"
    checks = []
    for name, sub in node.items():
        field = f"struct_extract({e}, {_literal(name)})"
        check = exact_nested(field, sub, depth + 1) if isinstance(sub, dict | list) else _leaf(field, sub)
        if check != "true":
            checks.append((name, check))
    parts = [f"list_has_all(['OBJECT', 'NULL'], json_type({value}, '$[*]'))"]
    if checks:
        spec = [{k: "JSON" if isinstance(node[k], dict | list) else "VARCHAR" for k, _ in checks}]
        parts.append(
            f"coalesce(list_bool_and(list_transform(json_transform({value}, {_literal(json.dumps(spec))}), "
            f"lambda {e}: {' AND '.join(c for _, c in checks)})), true)"
        )
    names = ", ".join(_literal(k.lower()) for k in node)
    exact = ", ".join(_literal(k) for k in node)
    k = f"__hw_k{depth}"
    parts.append(
        f"NOT coalesce(list_bool_or(list_transform(flatten(json_keys({value}, '$[*]')), lambda {k}: "
        f"list_contains([{names}], lower({k})) AND NOT list_contains([{exact}], {k}))), false)"
    )
    return f"({absent} OR (json_type({value}) = 'ARRAY' AND {' AND '.join(parts)}))"


def _leaf(text: str, typ: Any) -> str:
    """SQL, TRUE when a leaf's JSON ``text`` (NULL: absent or null) is exact as ``typ``."""
    if str(typ).upper() in _TEXT:
        return "true"
    return f"({text} IS NULL OR ({lossless(text, str(typ))}) IS NOT NULL)"


def structure_of(typ: Any) -> Any:
    """A column type (a json_transform structure, or a DuckDB type name such as a table's
    ``STRUCT(a BIGINT)[]``) as a json_transform structure. A MAP is taken as text (not checked)."""
    if isinstance(typ, dict):
        return {k: structure_of(v) for k, v in typ.items()}
    if isinstance(typ, list):
        return [structure_of(typ[0])]
    return _parsed(str(typ))


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Any:
    upper = text.upper()
    if not (upper.endswith("]") or upper.startswith(("STRUCT", "MAP"))):
        return text
    return _from_duckdb(duckdb.sql(f"SELECT NULL::{text}").types[0])


def _from_duckdb(typ: Any) -> Any:
    if typ.id == "struct":
        return {str(name): _from_duckdb(child) for name, child in typ.children}
    if typ.id == "list":
        return [_from_duckdb(typ.children[0][1])]
    if typ.id == "map":
        return "JSON"
    return str(typ)
