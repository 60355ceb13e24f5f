"""A deterministic DAG: topological order breaks ties by name; a cycle names its exact path."""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from headwater.plan.errors import CycleError


class DAG:
    def __init__(self) -> None:
        self.upstream: dict[str, set[str]] = {}

    def add(self, node: str, depends_on: Iterable[str] = ()) -> None:
        self.upstream.setdefault(node, set())
        for dep in depends_on:
            self.upstream.setdefault(dep, set())
            if dep != node:
                self.upstream[node].add(dep)

    def downstream(self) -> dict[str, set[str]]:
        down: dict[str, set[str]] = {n: set() for n in self.upstream}
        for node, ups in self.upstream.items():
            for up in ups:
                down[up].add(node)
        return down

    def sorted(self) -> list[str]:
        """Kahn's algorithm with a heap: the same graph always gives the same order."""
        indegree = {n: len(ups) for n, ups in self.upstream.items()}
        down = self.downstream()
        ready = [n for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            node = heapq.heappop(ready)
            order.append(node)
            for child in sorted(down[node]):
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, child)
        if len(order) != len(self.upstream):
            raise CycleError(self._find_cycle({n for n, d in indegree.items() if d > 0}))
        return order

    def _find_cycle(self, remaining: set[str]) -> list[str]:
        start = min(remaining)
        path: list[str] = []
        index: dict[str, int] = {}
        node = start
        while node not in index:
            index[node] = len(path)
            path.append(node)
            node = min(u for u in self.upstream[node] if u in remaining)
        # `path` walks upstream; print it in data-flow order, closing the loop.
        cycle = path[index[node] :]
        cycle.reverse()
        first = cycle.index(min(cycle))
        cycle = cycle[first:] + cycle[:first]
        return [*cycle, cycle[0]]

    def all_upstream(self, node: str) -> set[str]:
        seen: set[str] = set()
        stack = [node]
        while stack:
            for up in self.upstream.get(stack.pop(), ()):
                if up not in seen:
                    seen.add(up)
                    stack.append(up)
        return seen
