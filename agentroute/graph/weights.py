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


EDGE_SEP = "->"


def edge_key(src: str, dst: str) -> str:
    """How a signal targets one edge rather than a node: ``"src->dst"``."""
    return f"{src}{EDGE_SEP}{dst}"


def node_factors(signals: Iterable[HealthSignal], excluded: Iterable[str] = ()) -> dict[str, float]:
    """Multiply each target's factors (a node, or an edge as ``src->dst``); down is infinite."""
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


def _factor(factors: Mapping[str, float], u: str, v: str, per_edge: bool) -> float:
    f = factors.get(v, 1.0)
    return f * factors.get(edge_key(u, v), 1.0) if per_edge else f


def _per_edge(factors: Mapping[str, float]) -> bool:
    return any(EDGE_SEP in k for k in factors)


def reweight(graph: TaskGraph, factors: Mapping[str, float]) -> Weights:
    per_edge = _per_edge(factors)
    return {(u, v): _scaled(base, _factor(factors, u, v, per_edge)) for u, v, base in graph.edges}


def changed(old: Weights, new: Weights) -> tuple[tuple[str, str, float, float], ...]:
    return tuple(
        (u, v, old.get((u, v), math.nan), w) for (u, v), w in new.items() if old.get((u, v)) != w
    )


class Reweighter:
    """Keeps the current weights and updates only the edges whose factors changed."""

    def __init__(self, graph: TaskGraph) -> None:
        self.into: dict[str, list[tuple[str, float]]] = {n: [] for n in graph.nodes}
        self.base: dict[tuple[str, str], float] = {}
        for u, v, base in graph.edges:
            self.into[v].append((u, base))
            self.base[(u, v)] = base
        self.factors: dict[str, float] = {}
        self.weights: Weights = reweight(graph, {})

    def clone(self) -> Reweighter:
        """A reweighter in this one's state; the graph's index is shared (it never changes)."""
        twin = object.__new__(Reweighter)
        twin.into, twin.base = self.into, self.base
        twin.factors, twin.weights = dict(self.factors), dict(self.weights)
        return twin

    def apply(self, factors: Mapping[str, float]) -> tuple[tuple[str, str, float, float], ...]:
        """Move to ``factors``; return the ``(src, dst, old, new)`` edges that changed."""
        edges: set[tuple[str, str]] = set()
        for key in set(factors) | set(self.factors):
            if factors.get(key, 1.0) == self.factors.get(key, 1.0):
                continue
            if EDGE_SEP in key:
                u, _, v = key.partition(EDGE_SEP)
                if (u, v) in self.base:
                    edges.add((u, v))
            else:
                edges.update((u, key) for u, _ in self.into.get(key, ()))
        out = []
        per_edge = _per_edge(factors)
        for u, v in sorted(edges):  # the same order in every process (hash seeds differ)
            old = self.weights[(u, v)]
            new = _scaled(self.base[(u, v)], _factor(factors, u, v, per_edge))
            if new != old:
                self.weights[(u, v)] = new
                out.append((u, v, old, new))
        self.factors = dict(factors)
        return tuple(out)
