"""Self-healing reweighting: edge weight = base cost x the health factors of its target.

Factors from monitors multiply (latency, reliability, rate-limit proximity, penalties); a
node any signal marks down, or one that failed in this task, weighs infinity. Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from agentroute.graph.model import TaskGraph
from agentroute.types import HealthSignal

Weights = dict[tuple[str, str], float]


def node_factors(signals: Iterable[HealthSignal], excluded: Iterable[str] = ()) -> dict[str, float]:
    factors: dict[str, float] = {}
    for s in signals:
        if s.down:
            factors[s.target] = math.inf
        else:
            factors[s.target] = factors.get(s.target, 1.0) * s.multiplier
    for node in excluded:
        factors[node] = math.inf
    return factors


def _scaled(base: float, factor: float) -> float:
    # a down node weighs infinity even behind a zero-cost edge (0 x inf would be NaN)
    return math.inf if factor == math.inf else base * factor


def reweight(graph: TaskGraph, factors: Mapping[str, float]) -> Weights:
    return {(u, v): _scaled(base, factors.get(v, 1.0)) for u, v, base in graph.edges}


def changed(old: Weights, new: Weights) -> tuple[tuple[str, str, float, float], ...]:
    return tuple(
        (u, v, old.get((u, v), math.nan), w) for (u, v), w in new.items() if old.get((u, v)) != w
    )


class Reweighter:
    """Keeps the current weights and updates only the edges into nodes whose factor changed."""

    def __init__(self, graph: TaskGraph) -> None:
        self.into: dict[str, list[tuple[str, float]]] = {n: [] for n in graph.nodes}
        for u, v, base in graph.edges:
            self.into[v].append((u, base))
        self.factors: dict[str, float] = {}
        self.weights: Weights = reweight(graph, {})

    def apply(self, factors: Mapping[str, float]) -> tuple[tuple[str, str, float, float], ...]:
        """Move to ``factors``; return the ``(src, dst, old, new)`` edges that changed."""
        out = []
        for v in set(factors) | set(self.factors):
            f = factors.get(v, 1.0)
            if f == self.factors.get(v, 1.0):
                continue
            for u, base in self.into[v]:
                old, new = self.weights[(u, v)], _scaled(base, f)
                if new != old:
                    self.weights[(u, v)] = new
                    out.append((u, v, old, new))
        self.factors = dict(factors)
        return tuple(out)
