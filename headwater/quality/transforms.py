"""COLUMN_TRANSFORMATIONS and EXCLUDE_COLUMNS as one DuckDB select list (vectorised).

``HASH(col)`` is the hex SHA-256 of the project salt and the value (the salt is read from a
DuckDB variable, so it never appears in SQL text or error messages), ``MASK(col, n)`` keeps
the last n characters, ``REDACT(col)`` stores NULL; any other expression is DuckDB's.
Dotted targets (``customer.email``) rebuild the struct around the changed field.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from headwater.dialect import to_duckdb
from headwater.dialect.nodes import ColumnTransformation
from headwater.lake import quote
from headwater.quality.errors import QualityError

SALT_VARIABLE = "hw_salt"


def _text(arg: exp.Expression) -> str:
    return f"CAST(({to_duckdb(arg)}) AS VARCHAR)"


def translate(expression: exp.Expression) -> str:
    """The DuckDB SQL of a transformation expression, with HASH/MASK/REDACT expanded."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Anonymous):
            return node
        name = str(node.this).upper()
        args = node.expressions
        if name == "HASH":
            if len(args) != 1:
                raise QualityError("HASH takes one column: HASH(col)")
            return exp.maybe_parse(
                f"sha256(getvariable('{SALT_VARIABLE}') || {_text(args[0])})", dialect="duckdb"
            )
        if name == "MASK":
            if len(args) != 2 or not (isinstance(args[1], exp.Literal) and args[1].is_int):
                raise QualityError("MASK takes a column and a whole number: MASK(col, 4)")
            value, keep = _text(args[0]), int(args[1].this)
            # the last ``keep`` characters, padded on the left with '*' to the value's length
            return exp.maybe_parse(
                f"lpad(right({value}, {keep}), CAST(length({value}) AS INTEGER), '*')", dialect="duckdb"
            )
        if name == "REDACT":
            if len(args) != 1:
                raise QualityError("REDACT takes one column: REDACT(col)")
            return exp.maybe_parse("CAST(NULL AS VARCHAR)", dialect="duckdb")
        return node

    return to_duckdb(expression.copy().transform(rewrite))


def _insert(tree: dict[str, Any], path: list[str], value: str | None) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        tree[head] = value
        return
    child = tree.setdefault(head, {})
    if not isinstance(child, dict):  # the whole column is already set or dropped
        return
    _insert(child, rest, value)


def _struct_fields(typ: Any) -> list[tuple[str, Any]] | None:
    if getattr(typ, "id", None) == "struct":
        return [(str(name), child) for name, child in typ.children]
    return None


def _hash_whole(source: str) -> str:
    return f"sha256(getvariable('{SALT_VARIABLE}') || CAST({source} AS VARCHAR))"


def _rebuild(source: str, typ: Any, mods: dict[str, Any]) -> str:
    fields = _struct_fields(typ)
    if fields is None:
        # A path into a value that is not an object (text, a list): its parts cannot be
        # addressed, so the whole value is hashed rather than stored in clear.
        return _hash_whole(source)
    parts: list[str] = []
    seen = set()
    for name, child in fields:
        seen.add(name)
        ref = f"{source}.{quote(name)}"
        if name not in mods:
            parts.append(f"{quote(name)} := {ref}")
        elif mods[name] is None:
            continue
        elif isinstance(mods[name], dict):
            parts.append(f"{quote(name)} := {_rebuild(ref, child, mods[name])}")
        else:
            parts.append(f"{quote(name)} := {mods[name]}")
    if not parts:
        return "NULL"
    return f"CASE WHEN {source} IS NULL THEN NULL ELSE struct_pack({', '.join(parts)}) END"


def select_list(
    columns: list[tuple[str, Any]], transformations: list[ColumnTransformation], excludes: list[str]
) -> list[str]:
    """The output columns (``expr AS "name"``) for input ``columns`` (name, DuckDB type)."""
    names = {name for name, _ in columns}
    # A change is None (drop), SQL text (set) or a dict of changes to nested fields.
    tree: dict[str, Any] = {}
    for path in [*excludes, *protected_sources(transformations)]:
        _insert(tree, path.split("."), None)
    for t in transformations:
        refs = {c.table or c.name for c in t.expression.find_all(exp.Column)}
        if refs - names:
            continue  # its input is not in this batch (e.g. an optional field): nothing to transform
        _insert(tree, t.target.split("."), translate(t.expression))
    out: list[str] = []
    for name, typ in columns:
        if name not in tree:
            out.append(quote(name))
        elif tree[name] is None:
            continue
        elif isinstance(tree[name], dict):
            out.append(f"{_rebuild(quote(name), typ, tree[name])} AS {quote(name)}")
        else:
            out.append(f"{tree[name]} AS {quote(name)}")
    for name, value in tree.items():
        if name not in names and isinstance(value, str):
            out.append(f"{value} AS {quote(name)}")  # a derived column
    return out


PROTECTING = ("HASH", "MASK", "REDACT")


def protected_sources(transformations: list[ColumnTransformation]) -> list[str]:
    """Columns that HASH, MASK or REDACT read into another column (``email_hash = HASH(email)``):
    they are named in COLUMN_TRANSFORMATIONS, so they are never stored in clear either; unless
    a transformation of their own sets them, they are left out, as with EXCLUDE_COLUMNS."""
    targets = {t.target for t in transformations}
    out: list[str] = []
    for t in transformations:
        for call in t.expression.find_all(exp.Anonymous):
            if str(call.this).upper() not in PROTECTING:
                continue
            for column in call.find_all(exp.Column):
                path = ".".join(part.name for part in column.parts)
                if path not in targets and path not in out:
                    out.append(path)
    return out


def has_pii(transformations: list[ColumnTransformation], excludes: list[str]) -> bool:
    return bool(transformations or excludes)
