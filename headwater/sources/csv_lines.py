"""CSV records, one per line, checked with numpy before parsing (vectorised).

A line is rejected when its quotes are unbalanced or its number of fields (delimiters outside
quotes) differs from the header's, or it is not UTF-8. What remains parses cleanly with
pyarrow, all columns as text; typing happens in DuckDB (``headwater.sources.typing``) so
that a value that does not fit its column is caught per record.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from headwater.sources.errors import SourceError
from headwater.sources.keys import group
from headwater.sources.raw import INVALID_UTF8, encoded

REASON = "__hw_reason"


def split_csv(
    body: bytes, first_line: int, header: list[str], delimiter: str, line_col: str, raw_col: str
) -> tuple[pa.Table, pa.Table]:
    """Parse complete lines of CSV. Returns (rows as text + line numbers, rejected lines)."""
    buf = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    ends = newlines if body.endswith(b"\n") else np.append(newlines, len(body))
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    ends = ends.astype(np.int64)
    n = len(starts)
    lengths = ends - starts
    # A trailing \r belongs to the line ending, not the record.
    has_cr = np.zeros(n, dtype=bool)
    nonempty = lengths > 0
    has_cr[nonempty] = buf[ends[nonempty] - 1] == 13
    blank = (lengths - has_cr) == 0

    quotes = np.flatnonzero(buf == ord('"'))
    per_line_quotes = np.searchsorted(quotes, ends) - np.searchsorted(quotes, starts)
    unbalanced = (per_line_quotes % 2) == 1

    delims = np.flatnonzero(buf == ord(delimiter))
    delim_line = np.searchsorted(starts, delims, side="right") - 1
    quotes_before = np.searchsorted(quotes, delims) - np.searchsorted(quotes, starts[delim_line])
    outside = (quotes_before % 2) == 0
    fields = np.bincount(delim_line[outside], minlength=n) + 1
    wrong_width = fields != len(header)

    offsets = np.concatenate((starts, [ends[-1] if n else 0])) if n else np.zeros(1, dtype=np.int64)
    lines = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(body)) if n else None
    bad_utf8 = np.zeros(n, dtype=bool)
    if lines is not None:
        try:
            lines.validate(full=True)
        except pa.ArrowInvalid:
            raw = pa.compute.cast(lines, pa.large_binary()).to_pylist()
            bad_utf8 = np.array([not _utf8(v) for v in raw], dtype=bool)

    reject = ~blank & (unbalanced | wrong_width | bad_utf8)
    clash = next((keys for keys in group(header, {}).values() if len(keys) > 1), None)
    if clash:  # two header names are one column: no record can be stored
        reject = ~blank
    keep = ~blank & ~reject
    numbers = np.arange(first_line, first_line + n, dtype=np.int64)
    rejected = _rejected(
        body, starts, ends, numbers, reject, unbalanced, bad_utf8, fields, len(header), line_col, raw_col
    )
    if clash:
        reason = f"header names {', '.join(clash)} differ only in case (column names are case-insensitive)"
        utf8 = pa.array(bad_utf8[reject])
        rejected = rejected.set_column(2, REASON, pc.if_else(utf8, rejected[REASON], pa.scalar(reason)))

    if not keep.any():
        table = pa.table({name: pa.array([], pa.string()) for name in group(header, {})})  # (one per column)
        table = table.append_column(line_col, pa.array([], pa.int64()))
        return table.append_column(raw_col, pa.array([], pa.large_string())), rejected
    if keep.all():
        good = body
    else:
        mask = np.repeat(keep, (ends - starts) + (ends < len(body)))
        good = buf[mask[: len(buf)]].tobytes()
    try:
        table = pacsv.read_csv(
            io.BytesIO(good),
            read_options=pacsv.ReadOptions(column_names=header, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as e:
        raise SourceError(f"cannot parse CSV after line {first_line - 1}: {e}") from None
    kept_numbers = numbers[keep]
    if table.num_rows != len(kept_numbers):
        raise SourceError(
            f"CSV lines {first_line}-{first_line + n - 1}: parsed {table.num_rows} records from {len(kept_numbers)} lines"
        )
    assert lines is not None
    raw = lines.filter(pa.array(keep))
    return table.append_column(line_col, pa.array(kept_numbers)).append_column(raw_col, raw), rejected


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _rejected(
    body: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    numbers: np.ndarray,
    reject: np.ndarray,
    unbalanced: np.ndarray,
    bad_utf8: np.ndarray,
    fields: np.ndarray,
    width: int,
    line_col: str,
    raw_col: str,
) -> pa.Table:
    idx = np.flatnonzero(reject)
    texts = [body[starts[i] : ends[i]].decode("utf-8", errors="replace").rstrip("\r") for i in idx]
    if bad_utf8.any():  # such a line is kept as its bytes in base64 (``headwater.sources.raw``)
        bad = iter(encoded([body[starts[i] : ends[i]] for i in idx if bad_utf8[i]]).to_pylist())
        texts = [next(bad) if bad_utf8[i] else t for i, t in zip(idx, texts, strict=True)]
    reasons = [
        INVALID_UTF8
        if bad_utf8[i]
        else "unbalanced quotes"
        if unbalanced[i]
        else f"expected {width} fields, got {int(fields[i])}"
        for i in idx
    ]
    return pa.table(
        {
            line_col: pa.array(numbers[idx], pa.int64()),
            raw_col: pa.array(texts, pa.large_string()),
            REASON: pa.array(reasons, pa.string()),
        }
    )
