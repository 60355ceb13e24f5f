"""Casts that never change a value, as SQL (vectorised: one expression per column).

A text becomes a value of a type only when the value is the text's: an integer is not rounded,
a number is not rounded to a double that prints as another number (``1e400`` is no infinity,
``9007199254740993`` no ``9007199254740992``), a timestamp keeps its sub-microsecond digits
and, without a zone, does not silently drop one, a date carries no time of day. Otherwise the
cast is NULL, and the caller quarantines the record (``column x: expected T``).

Inference is stricter (``canonical``): a type is chosen for a column only when every value's
text is the type's own way of writing that value, so that casting back gives the text again
(up to the letter case of ``true``/``false``, the spelling of a number, and the zone offset of
a timestamp with a zone, which is stored as the instant in UTC).
"""

from __future__ import annotations

INTEGERS = {
    "HUGEINT",
    "UHUGEINT",
    "UBIGINT",
    "BIGINT",
    "UINTEGER",
    "INTEGER",
    "USMALLINT",
    "SMALLINT",
    "UTINYINT",
    "TINYINT",
}
_FLOATS = {"DOUBLE": (15, "2.2250738585072014e-308"), "FLOAT": (6, "1.1754943508222875e-38")}
_FLOATS["REAL"] = _FLOATS["FLOAT"]
# Time of day followed by a zone: a TIMESTAMP (no zone) would silently drop it.
_ZONE = r":\d\d(:\d\d(\.\d*)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?|[A-Za-z].*)$"
# Lists, not IN (...): DuckDB plans an IN of many constants as a join, which computes its left
# side for every row, also where a CASE would not need it.
_SPECIAL = "['nan', '-nan', '+nan', 'inf', '-inf', '+inf', 'infinity', '-infinity', '+infinity']"
_BOOLEANS = "['true', 'false', 't', 'f', 'yes', 'no', 'y', 'n', '1', '0']"
JSON_NUMBER = r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?"
_TIME = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?"
ZONED = _TIME + r"(Z|[+-]\d{2}(:?\d{2})?)"


def significant(text: str) -> str:
    """SQL: the significant digits of a decimal number's text (no sign, point, exponent, or
    leading and trailing zeros)."""
    return f"trim(regexp_replace(regexp_replace({text}, '[eE].*$', ''), '[^0-9]', '', 'g'), '0')"


def exact_float(text: str, value: str, typ: str) -> str:
    """SQL: ``value`` (``text`` cast to DOUBLE/FLOAT) is the number the text says. Fast when the
    text is short: up to 15 (6) significant digits in the normal range always round-trip; else
    the digits of the value's shortest text must be the text's (two decimals with the same
    digits that round to one double are the same number). A CASE, not an OR: DuckDB computes
    both sides of an OR for every row, and the digits' regular expressions cost 9 times the
    short test (measured on a million prices)."""
    digits, smallest = _FLOATS[typ.upper()]
    return (
        f"CASE WHEN isfinite({value}) THEN (CASE WHEN length({text}) <= {digits} AND abs({value}) >= {smallest} "
        f"THEN true ELSE {significant(text)} = {significant(f'CAST({value} AS VARCHAR)')} END) "
        f"WHEN {value} IS NOT NULL THEN list_contains({_SPECIAL}, lower(trim({text}))) END"
    )


def try_cast(text: str, typ: str) -> str:
    """SQL: ``TRY_CAST(text AS typ)``. For TIMESTAMPTZ, texts naming a zone
    (``2026-03-10T05:05:00 Europe/Paris``) are cast by an expression of their own: in DuckDB
    1.5 such a cast leaves the zone set for the texts without a zone that follow it in the same
    vector, which would then be read in that zone instead of the session's."""
    if typ.upper() not in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
        return f"TRY_CAST({text} AS {typ})"
    return (
        f"CASE WHEN regexp_matches({text}, '[A-Za-z]{{2}}') THEN TRY_CAST(({text}) || '' AS {typ}) "
        f"ELSE TRY_CAST({text} AS {typ}) END"
    )


def lossless(text: str, typ: str, value: str | None = None) -> str:
    """SQL: ``text`` cast to ``typ``, NULL if it does not convert or the value would differ.
    ``value``: SQL for ``TRY_CAST(text AS typ)`` already computed (a column of a lower
    projection: DuckDB does not share a repeated expression inside CASE)."""
    upper = typ.upper()
    cast = value or try_cast(text, typ)
    if upper in INTEGERS:  # '1.5' is not 2; '2.0' and '007' are 2 and 7
        inexact = " OR ".join(f"contains({text}, '{c}')" for c in ".eExX")
        return (
            f"CASE WHEN NOT ({inexact}) OR CAST({cast} AS VARCHAR) = {text} THEN {cast} "
            f"WHEN TRY_CAST({text} AS DOUBLE) = {cast} THEN {cast} END"
        )
    if upper in _FLOATS:
        return f"CASE WHEN {exact_float(text, cast, upper)} THEN {cast} END"
    if upper in ("BOOLEAN", "BOOL"):  # not 2 as true
        return f"CASE WHEN list_contains({_BOOLEANS}, lower({text})) THEN {cast} END"
    # (infinity, which DuckDB reads from the text 'infinity', is no time: not taken)
    if upper in ("TIMESTAMP", "TIMESTAMP_US", "DATETIME"):
        return f"CASE WHEN isfinite({cast}) AND NOT regexp_matches({text}, '\\.\\d{{7}}|{_ZONE}') THEN {cast} END"
    if upper in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
        return (
            f"CASE WHEN isfinite({cast}) AND (length({text}) < 27 OR NOT regexp_matches({text}, '\\.\\d{{7}}')) "
            f"THEN {cast} END"
        )
    if upper == "DATE":  # a time of day is kept only by a timestamp
        return (
            f"CASE WHEN isfinite({cast}) AND (NOT contains({text}, ':') OR TRY_CAST({text} AS TIMESTAMP) = {cast}) "
            f"THEN {cast} END"
        )
    return cast


def canonical(text: str, typ: str) -> str:
    """SQL, for inference: ``text`` (not NULL) is how ``typ`` writes its value."""
    upper = typ.upper()
    if upper in INTEGERS or upper == "DATE":
        return f"CAST(TRY_CAST({text} AS {typ}) AS VARCHAR) = {text}"
    if upper == "DOUBLE":  # JSON's number syntax, exact (NaN and infinities: see ``special``)
        value = f"TRY_CAST({text} AS DOUBLE)"
        return f"(regexp_full_match({text}, '{JSON_NUMBER}') AND isfinite({value}) AND {exact_float(text, value, upper)})"
    if upper == "BOOLEAN":  # only true/false: DuckDB would also read y, n, t, f as booleans
        return f"lower({text}) IN ('true', 'false')"
    if upper == "TIMESTAMP":
        return f"(regexp_full_match({text}, '{_TIME}') AND TRY_CAST({text} AS TIMESTAMP) IS NOT NULL)"
    if upper == "TIMESTAMPTZ":
        return f"(regexp_full_match({text}, '{ZONED}') AND TRY_CAST({text} AS TIMESTAMPTZ) IS NOT NULL)"
    raise ValueError(typ)


def special(text: str) -> str:
    """SQL: ``text`` is NaN or an infinity as JSON writers spell them."""
    return f"{text} IN ('NaN', 'Infinity', '-Infinity')"
