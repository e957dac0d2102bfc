"""The in-flight ledger: ant steps drawn whose outcome the colony has not learned yet.

Learning happens off the serving path, so with many tasks in flight decisions are made on
tables that do not yet know the outcomes of the ants still out. The ledger records each
drawn step (the edge and the task's type weights) under its run's key and settles the run's
steps when its outcome goes to the learner. Until then a step is *evidence on its way*: the
colony counts it as traffic on its edge when it weighs how little it knows about the edge
(`agentroute.aco.Colony`'s ``explore``), and its outcome replaces it when learned. The
estimate of how good the edge is stays untouched until then: in-flight work is neither
success nor failure, so a preferred agent with hundreds of calls out is not pushed away (a
raw in-flight count in eta does that), while an edge being tried by many ants at once stops
looking unexplored after the first ones are sent.

The ledger also counts open steps per node (`busy`), for a colony that models a capacity
limit (``load_penalty``). Sums are kept as they go, so a decision costs the same at 1 or
1,000 in flight; an edge with nothing left open is dropped, so a settled ledger holds exactly
nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from agentroute.aco.pheromone import Edge


@dataclass(frozen=True)
class Dispatch:
    """One drawn ant step: its edge and the task's (normalised) type weights."""

    edge: Edge
    weights: Mapping[str, float]


class InFlight:
    """Open dispatches by run key; `settle` closes a run's when its outcome is learned (or
    the run is given up)."""

    def __init__(self) -> None:
        self._by_key: dict[Hashable, list[Dispatch]] = {}
        self._count: dict[Edge, int] = {}
        self._pending: dict[Edge, dict[str, float]] = {}
        self._busy: dict[str, int] = {}

    def dispatch(self, key: Hashable, d: Dispatch) -> None:
        self._by_key.setdefault(key, []).append(d)
        self._count[d.edge] = self._count.get(d.edge, 0) + 1
        row = self._pending.setdefault(d.edge, {})
        for t, w in d.weights.items():
            row[t] = row.get(t, 0.0) + w
        node = d.edge[1]
        self._busy[node] = self._busy.get(node, 0) + 1

    def settle(self, key: Hashable) -> tuple[Dispatch, ...]:
        """Close every dispatch of ``key`` and return them in order (none if it has none)."""
        done = tuple(self._by_key.pop(key, ()))
        for d in done:
            left = self._count[d.edge] - 1
            if left:
                self._count[d.edge] = left
                row = self._pending[d.edge]
                for t, w in d.weights.items():
                    row[t] -= w
            else:
                del self._count[d.edge], self._pending[d.edge]
            node = d.edge[1]
            if self._busy[node] > 1:
                self._busy[node] -= 1
            else:
                del self._busy[node]
        return done

    def pending(self, edge: Edge, task_type: str) -> float:
        """Work in flight on ``edge`` for one task type: the sum of the open dispatches'
        weights for it."""
        row = self._pending.get(edge)
        return row.get(task_type, 0.0) if row else 0.0

    def busy(self, node: str) -> int:
        """Open dispatches onto ``node``."""
        return self._busy.get(node, 0)

    def open(self) -> list[Dispatch]:
        return [d for ds in self._by_key.values() for d in ds]

    def __len__(self) -> int:
        return sum(self._count.values())
