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
