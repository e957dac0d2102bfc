"""Shortest paths over the reweighted graph (networkx Dijkstra); infinite edges are hidden.

networkx is imported on the first search, not with the package."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from agentroute.graph.model import TaskGraph
from agentroute.graph.weights import Weights


@dataclass(frozen=True)
class Plan:
    path: tuple[str, ...]
    cost: float


def shortest_path(graph: TaskGraph, weights: Weights, source: str, goal: str) -> Plan | None:
    """The cheapest path, or None when every path crosses an infinite edge."""
    import networkx as nx

    def weight(u: str, v: str, _: object) -> float | None:
        w = weights[(u, v)]
        return None if math.isinf(w) else w

    try:
        path = nx.dijkstra_path(graph.g, source, goal, weight=weight)
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        return None
    return Plan(tuple(path), sum(weights[(u, v)] for u, v in itertools.pairwise(path)))


def reachable_lesser_goals(graph: TaskGraph, weights: Weights, source: str) -> list[Plan]:
    """Plans to each lesser goal still reachable, in the declared order of preference."""
    plans = [shortest_path(graph, weights, source, g) for g in graph.lesser_goals]
    return [p for p in plans if p is not None]
