from __future__ import annotations

from headwater.errors import UserError


class CycleError(UserError):
    """Jobs depend on each other in a circle."""

    def __init__(self, cycle: list[str], places: dict[str, str] | None = None) -> None:
        """``places``: where each node is declared (``file:line:col``), when known."""
        self.cycle = cycle
        where = places or {}
        path = " -> ".join(
            f"{n} ({where[n]})" if n in where and i < len(cycle) - 1 else n for i, n in enumerate(cycle)
        )
        first = f"{where[cycle[0]]}: " if cycle and cycle[0] in where else ""
        super().__init__(
            f"{first}dependency cycle: {path}",
            hint="a job cannot (indirectly) read the table it writes; break the cycle",
        )


class DropNotAllowed(UserError):
    """The plan drops tables (their rows) or jobs (their positions) and that was not allowed."""

    def __init__(self, drops: list[str]) -> None:
        self.drops = drops
        super().__init__(
            "run would drop "
            + ", ".join(drops)
            + " (no longer in the project's files) and delete their rows or positions; nothing was changed",
            hint="put the statements back, or confirm with `headwater run --allow-drop` "
            "(Python: Project.run(allow_drop=True)); `headwater plan` shows every change",
        )
