"""Fast rerouting: exact distances to the goal, kept as an A* heuristic between changes.

One reverse Dijkstra from the goal gives every node its distance and next hop; with nothing
changed, a path is read by following next hops. When weights change, the old distances stay a
consistent lower bound: unchanged after edges get heavier (a node going down), and after edges
get lighter by at most a factor ``r``, ``r`` times the old distance is. So a reroute is an A*
search from where the task stands, guided by that bound: it expands little more than the new
path. When accumulated decreases make the bound weak (``r`` below ``rebuild_below``), or a
down node comes back, the distances are recomputed once from scratch.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

from agentroute.graph.model import TaskGraph
from agentroute.graph.paths import Plan
from agentroute.graph.weights import Weights

INF = math.inf


class GoalTree:
    """Shortest paths to one goal under weights that change between steps."""

    def __init__(
        self, graph: TaskGraph, goal: str, weights: Weights, *, rebuild_below: float = 0.5
    ) -> None:
        self.goal = goal
        self.rebuild_below = rebuild_below
        self.w: Weights = dict(weights)
        self.succ: dict[str, list[str]] = {n: list(graph.g.successors(n)) for n in graph.g}
        self.pred: dict[str, list[str]] = {n: list(graph.g.predecessors(n)) for n in graph.g}
        self.rebuilds = 0
        self._build()

    def _build(self) -> None:
        """Reverse Dijkstra from the goal under the current weights."""
        dist = dict.fromkeys(self.pred, INF)
        nxt: dict[str, str | None] = dict.fromkeys(self.pred)
        dist[self.goal] = 0.0
        heap = [(0.0, self.goal)]
        w, pred = self.w, self.pred
        while heap:
            d, v = heapq.heappop(heap)
            if d > dist[v]:
                continue
            for u in pred[v]:
                nd = d + w[(u, v)]
                if nd < dist[u]:
                    dist[u], nxt[u] = nd, v
                    heapq.heappush(heap, (nd, u))
        self.dist, self.next = dist, nxt
        self.exact = True
        self.scale = 1.0
        self.rebuilds += 1
        self._cache: dict[str, Plan | None] = {}

    # -- queries ----------------------------------------------------------------------------
    def path(self, source: str) -> Plan | None:
        if not self.exact:
            return self._astar(source)
        cost = self.dist.get(source, INF)
        if math.isinf(cost):
            return None
        path = [source]
        node = source
        while node != self.goal:
            node = self.next[node]  # type: ignore[assignment]
            path.append(node)
        return Plan(tuple(path), cost)

    def _astar(self, source: str) -> Plan | None:
        cached = self._cache.get(source)
        if cached is not None or source in self._cache:
            return cached
        dist, scale, w, succ, goal = self.dist, self.scale, self.w, self.succ, self.goal
        # with only heavier edges since the build, an infinite old distance is still infinite
        unknown = 0.0 if scale < 1.0 else INF
        d0 = dist[source]
        if d0 == INF and unknown == INF:
            self._cache[source] = None
            return None
        g = {source: 0.0}
        parent: dict[str, str] = {}
        closed: set[str] = set()
        heap = [(unknown if d0 == INF else scale * d0, 0.0, source)]
        pop, push = heapq.heappop, heapq.heappush
        plan = None
        while heap:
            _, gu, u = pop(heap)
            if u in closed:
                continue
            if u == goal:
                path = [u]
                while u != source:
                    u = parent[u]
                    path.append(u)
                path.reverse()
                plan = Plan(tuple(path), gu)
                break
            closed.add(u)
            for v in succ[u]:
                gv = gu + w[(u, v)]
                if gv < g.get(v, INF) and v not in closed:
                    dv = dist[v]
                    hv = unknown if dv == INF else scale * dv
                    if hv == INF:
                        continue
                    g[v] = gv
                    parent[v] = u
                    push(heap, (gv + hv, gv, v))
        self._cache[source] = plan
        return plan

    # -- updates ----------------------------------------------------------------------------
    def update(self, changes: Iterable[tuple[str, str, float, float]]) -> None:
        """Apply ``(src, dst, old, new)`` weight changes."""
        self._cache.clear()
        for u, v, _old, new in changes:
            old = self.w.get((u, v), INF)
            self.w[(u, v)] = new
            if new > old and self.next.get(u) == v:
                self.exact = False
            elif new < old:
                self.exact = False
                ratio = 0.0 if old == INF else new / old
                self.scale = min(self.scale, ratio)
        if self.scale < self.rebuild_below:
            self._build()
