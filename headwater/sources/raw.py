"""Lines that are not UTF-8 text: kept exactly, as the base64 of their bytes.

``system.quarantine.raw`` is text; a line whose bytes are not UTF-8 is quarantined with the
reason ``invalid UTF-8``, its bytes (without the line ending) in base64 in ``raw``, and its
``format`` prefixed with ``base64:`` (``base64:json``, ``base64:csv:[...]``) so that a replay
reads the same bytes again, and quarantines them again unless they are fixed.
"""

from __future__ import annotations

import base64

import pyarrow as pa

INVALID_UTF8 = "invalid UTF-8"
BASE64 = "base64:"


def encoded(lines: list[bytes]) -> pa.Array:
    """The lines' bytes, without their line ending, as base64 text."""
    return pa.array([base64.b64encode(v.rstrip(b"\r\n")).decode("ascii") for v in lines], pa.large_string())


def decoded(format: str, texts: list[str]) -> tuple[str, list[bytes]]:
    """(format, bytes of each line) of quarantined texts in ``format``."""
    if format.startswith(BASE64):
        return format[len(BASE64) :], [base64.b64decode(t) for t in texts]
    return format, [t.encode() for t in texts]
