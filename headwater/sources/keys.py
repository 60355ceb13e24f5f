"""Which column a JSON key (or CSV header name) is stored in.

Column names are case-insensitive (DuckDB's rule), so a key is stored in the column whose name
equals it ignoring case: the table's spelling if the table has it, else the first spelling the
chunk has. A record with two keys that are one column (``id`` and ``Id``) is quarantined, with
a reason naming them; so is a CSV file's every record when two header names are one column.
Names of system columns (``$...``) and internal ones (``__hw_...``) are not for data: a key
``$source`` is stored as ``_$source``, ``__hw_line`` as ``___hw_line``.
"""

from __future__ import annotations

from typing import Any


def stored_name(key: str) -> str:
    """The column name for a key: reserved names get a leading underscore."""
    return "_" + key if key.startswith("$") or key.lower().startswith("__hw_") else key


def key_sources(column: str) -> list[str]:
    """The keys a column is read from, without knowing the data: itself, and for a renamed
    reserved name the original key too."""
    if column.startswith("_") and stored_name(column[1:]) == column:
        return [column, column[1:]]
    return [column]


def group(keys: list[str], table: dict[str, Any]) -> dict[str, list[str]]:
    """Column -> the keys stored in it, in order of first appearance (``table``: the existing
    columns, whose spelling wins)."""
    existing = {c.lower(): c for c in table}
    out: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for key in keys:
        name = stored_name(key)
        lower = name.lower()
        column = spelling.setdefault(lower, existing.get(lower, name))
        out.setdefault(column, []).append(key)
    return out


def clash_reason(keys: list[str], column: str) -> str:
    """Why a record with more than one of ``keys`` (all stored in ``column``) is quarantined."""
    names = ", ".join(keys)
    if any(stored_name(k) != k for k in keys):
        return f"keys {names} would all be stored in column {column}"
    return f"keys {names} differ only in case (column names are case-insensitive)"


def nested_clash(node: Any) -> bool:
    """Whether an inferred structure has an object with two keys that differ only in case
    (DuckDB cannot make such a STRUCT: the column is kept as JSON text instead)."""
    if isinstance(node, dict):
        return len({k.lower() for k in node}) < len(node) or any(nested_clash(v) for v in node.values())
    if isinstance(node, list):
        return any(nested_clash(v) for v in node)
    return False


def merged_type(types: list[Any]) -> Any:
    """One column's type from the types inferred for each of its keys."""
    if all(t == types[0] for t in types):
        return types[0]
    if all(t in ("BIGINT", "HUGEINT") for t in types):
        return "HUGEINT"
    if all(t in ("BIGINT", "HUGEINT", "DOUBLE") for t in types):
        return "DOUBLE"
    return "VARCHAR"
