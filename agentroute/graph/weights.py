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


def reweight(graph: TaskGraph, factors: Mapping[str, float]) -> Weights:
    return {(u, v): base * factors.get(v, 1.0) for u, v, base in graph.edges}


def changed(old: Weights, new: Weights) -> tuple[tuple[str, str, float, float], ...]:
    return tuple(
        (u, v, old.get((u, v), math.nan), w) for (u, v), w in new.items() if old.get((u, v)) != w
    )
