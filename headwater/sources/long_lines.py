"""Lines longer than ``[run] batch_bytes``: found without reading them whole, and turned into
one rejected line for the quarantine (cut to a cap, with a reason that says how much was cut)
so that the job reads on instead of stopping."""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa

from headwater.sources.csv_lines import REASON

# Of a line longer than batch_bytes, the quarantine keeps at most this many bytes (and at most
# batch_bytes); the reason says how many more there were.
LONG_LINE_KEEP = 64 * 1024


def line_length(f: BinaryIO, offset: int, size: int, known: int, settled: bool) -> int | None:
    """The length (without its newline) of the line at ``offset``, whose first ``known`` bytes
    have no newline; None while a growing file's line has no newline yet. Reads a megabyte at a
    time and keeps nothing."""
    pos = offset + known
    while pos < size:
        f.seek(pos)
        piece = f.read(min(1 << 20, size - pos))
        found = piece.find(b"\n")
        if found >= 0:
            return pos + found - offset
        pos += len(piece)
    return size - offset if settled else None


def rejected_long_line(
    where: str, line: int, start: bytes, length: int, max_bytes: int, line_col: str, raw_col: str
) -> pa.Table:
    """The rejected-lines table (line, raw, reason) of one over-long line; ``start`` is its
    beginning as read (batch_bytes of it) and ``where`` its file."""
    keep = start[: min(LONG_LINE_KEEP, length)]
    reason = (
        f"{where}:{line}: a line of {length:,} bytes, longer than [run] batch_bytes ({max_bytes:,}); "
        f"the first {len(keep):,} bytes are kept here, {length - len(keep):,} bytes were truncated"
    )
    return pa.table(
        {
            line_col: pa.array([line], pa.int64()),
            raw_col: pa.array([keep.decode("utf-8", errors="replace")], pa.large_string()),
            REASON: pa.array([reason], pa.string()),
        }
    )
