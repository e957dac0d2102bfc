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
    """Shortest paths to one goal under weights that change between steps.

    Nodes and edges are numbered once, so the searches run over lists of integers.
    """

    def __init__(
        self, graph: TaskGraph, goal: str, weights: Weights, *, rebuild_below: float = 0.5
    ) -> None:
        self.goal = goal
        self.rebuild_below = rebuild_below
        self.names: list[str] = list(graph.g)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.edge_id: dict[tuple[str, str], int] = {}
        self.w: list[float] = []
        self.succ: list[list[tuple[int, int]]] = [[] for _ in self.names]
        self.pred: list[list[tuple[int, int]]] = [[] for _ in self.names]
        for (u, v), weight in weights.items():
            e = len(self.w)
            self.edge_id[(u, v)] = e
            self.w.append(weight)
            self.succ[self.index[u]].append((self.index[v], e))
            self.pred[self.index[v]].append((self.index[u], e))
        self._goal = self.index[goal]
        self.rebuilds = 0
        self._build()

    def _build(self) -> None:
        """Reverse Dijkstra from the goal under the current weights."""
        n = len(self.names)
        dist = [INF] * n
        nxt = [-1] * n
        dist[self._goal] = 0.0
        heap = [(0.0, self._goal)]
        w, pred = self.w, self.pred
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            d, v = pop(heap)
            if d > dist[v]:
                continue
            for u, e in pred[v]:
                nd = d + w[e]
                if nd < dist[u]:
                    dist[u], nxt[u] = nd, v
                    push(heap, (nd, u))
        self.dist, self.next = dist, nxt
        self.exact = True
        self.scale = 1.0
        self.rebuilds += 1
        self._cache: dict[int, Plan | None] = {}

    def copy(self) -> GoalTree:
        """A tree in this one's state that changes on its own (the graph's index is shared)."""
        twin = object.__new__(GoalTree)
        twin.__dict__.update(self.__dict__)
        twin.w, twin.dist, twin.next = list(self.w), list(self.dist), list(self.next)
        twin._cache = {}
        return twin

    # -- queries ----------------------------------------------------------------------------
    def path(self, source: str) -> Plan | None:
        s = self.index[source]
        if not self.exact:
            if s not in self._cache:
                self._cache[s] = self._astar(s)
            return self._cache[s]
        cost = self.dist[s]
        if cost == INF:
            return None
        names, nxt, goal = self.names, self.next, self._goal
        path = [source]
        while s != goal:
            s = nxt[s]
            path.append(names[s])
        return Plan(tuple(path), cost)

    def _astar(self, source: int) -> Plan | None:
        dist, scale, w, succ, goal = self.dist, self.scale, self.w, self.succ, self._goal
        # with only heavier edges since the build, an infinite old distance is still infinite
        unknown = 0.0 if scale < 1.0 else INF
        d0 = dist[source]
        if d0 == INF and unknown == INF:
            return None
        g = {source: 0.0}
        parent: dict[int, int] = {}
        closed: set[int] = set()
        heap = [(unknown if d0 == INF else scale * d0, 0.0, source)]
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            _, gu, u = pop(heap)
            if u in closed:
                continue
            if u == goal:
                path = [u]
                while u != source:
                    u = parent[u]
                    path.append(u)
                names = self.names
                return Plan(tuple(names[i] for i in reversed(path)), gu)
            closed.add(u)
            for v, e in succ[u]:
                gv = gu + w[e]
                if gv < g.get(v, INF) and v not in closed:
                    dv = dist[v]
                    hv = unknown if dv == INF else scale * dv
                    if hv == INF:
                        continue
                    g[v] = gv
                    parent[v] = u
                    push(heap, (gv + hv, gv, v))
        return None

    # -- updates ----------------------------------------------------------------------------
    def update(self, changes: Iterable[tuple[str, str, float, float]]) -> None:
        """Apply ``(src, dst, old, new)`` weight changes."""
        self._cache.clear()
        index, nxt = self.index, self.next
        for u, v, _old, new in changes:
            e = self.edge_id[(u, v)]
            old = self.w[e]
            self.w[e] = new
            if new > old and nxt[index[u]] == index[v]:
                self.exact = False
            elif new < old:
                self.exact = False
                ratio = 0.0 if old == INF else new / old
                self.scale = min(self.scale, ratio)
        if self.scale < self.rebuild_below:
            self._build()
