from __future__ import annotations

from headwater.errors import UserError


class CycleError(UserError):
    """Jobs depend on each other in a circle."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(
            "dependency cycle: " + " -> ".join(cycle),
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
