"""`headwater quarantine list` fits a terminal: one line per record."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from headwater.cli.quarantine import quarantine_table


def record(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "job": "load_orders",
        "$source": f"file:/home/someone/projects/shop/data/landing/2026/01/05/orders-{i:04d}.jsonl:{i * 1000}",
        "reason": "malformed JSON: unexpected character after the value, at byte 1234 of the line",
        "raw": '{"order_id": 1, "customer": {"email": "x@example.com", "name": "someone"}, "amount": 12.5}\n'
        * 3,
        "sealed": False,
    }


def test_one_line_per_record_within_the_terminal_width() -> None:
    for width in (80, 120):
        out = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
        out.print(quarantine_table([record(i) for i in range(1, 4)], width))
        lines = out.file.getvalue().rstrip("\n").splitlines()  # type: ignore[attr-defined]
        assert all(len(line) <= width for line in lines)
        assert len(lines) == 2 + 3  # header, rule, one line per record
        assert all(line.lstrip().startswith(str(i)) for i, line in enumerate(lines[2:], start=1))
        assert "orders-0003.jsonl:3000" in lines[-1]  # the end of a long $source is kept
