"""`TaskGraph`: agents and tools as nodes of a directed graph whose edges carry a base cost.

Built on networkx and validated when constructed: an edge to an undeclared node, a negative
or non-finite cost, or a goal the start cannot reach is a `ConfigError` right away. networkx
is imported when the first graph is built, not with the package (it costs ~60 ms).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from agentroute.errors import ConfigError

if TYPE_CHECKING:
    import networkx as nx

NodeKind = Literal["agent", "tool", "start", "goal"]


@dataclass(frozen=True)
class Edge:
    """``src -> dst`` at ``cost`` (any unit: latency, money, risk, or a blend)."""

    src: str
    dst: str
    cost: float = 1.0


class TaskGraph:
    """A validated, immutable cost graph with a start, a goal and optional lesser goals.

    ``lesser_goals`` are acceptable outcomes in order of preference (for goal demotion when
    the real goal becomes unreachable). ``requires`` makes a node a join: it runs only after
    all its prerequisites have run, and the prerequisites not yet done are reached by branches
    that run concurrently (fan-out). Every edge into a join must come from a prerequisite.
    """

    def __init__(
        self,
        edges: Iterable[Edge | tuple[str, str] | tuple[str, str, float]],
        *,
        start: str,
        goal: str,
        nodes: Mapping[str, NodeKind] | None = None,
        lesser_goals: Sequence[str] = (),
        requires: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        import networkx as nx

        g: nx.DiGraph[str] = nx.DiGraph()
        if nodes is not None:
            for name, kind in nodes.items():
                g.add_node(name, kind=kind)
        for raw in edges:
            e = raw if isinstance(raw, Edge) else Edge(*raw)
            if not isinstance(e.cost, int | float) or not math.isfinite(e.cost) or e.cost < 0:
                raise ConfigError(f"edge {e.src} -> {e.dst} has cost {e.cost!r}; need finite >= 0")
            if e.src == e.dst:
                raise ConfigError(f"edge {e.src} -> {e.dst} is a self-loop")
            if nodes is not None:
                dangling = [n for n in (e.src, e.dst) if n not in nodes]
                if dangling:
                    raise ConfigError(
                        f"edge {e.src} -> {e.dst} names undeclared node(s) {dangling}"
                    )
            g.add_edge(e.src, e.dst, cost=float(e.cost))
        for name in (start, goal, *lesser_goals):
            if name not in g:
                raise ConfigError(f"node {name!r} is not in the graph")
        if not nx.has_path(g, start, goal):
            raise ConfigError(f"goal {goal!r} cannot be reached from {start!r}")
        joins = {j: tuple(p) for j, p in (requires or {}).items()}
        for join, prereqs in joins.items():
            if join not in g or any(p not in g for p in prereqs):
                raise ConfigError(f"join {join!r} or one of its prerequisites is not in the graph")
            if len(prereqs) < 2:
                raise ConfigError(f"join {join!r} needs at least two prerequisites")
            stray = sorted(set(g.predecessors(join)) - set(prereqs))
            if stray:
                raise ConfigError(f"edges into join {join!r} from non-prerequisites {stray}")
            unlinked = sorted(p for p in prereqs if not g.has_edge(p, join))
            if unlinked:
                raise ConfigError(f"prerequisites {unlinked} of join {join!r} have no edge to it")
        if not nx.is_directed_acyclic_graph(g) and joins:
            raise ConfigError("a graph with joins must be acyclic")
        self.g: nx.DiGraph[str] = g
        self.start = start
        self.goal = goal
        self.lesser_goals = tuple(lesser_goals)
        self.requires: dict[str, tuple[str, ...]] = joins
        self._edges = tuple((u, v, float(d["cost"])) for u, v, d in g.edges(data=True))

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self.g.nodes)

    @property
    def edges(self) -> tuple[tuple[str, str, float], ...]:
        return self._edges

    def kind(self, node: str) -> str:
        return str(self.g.nodes[node].get("kind", "tool"))

    def __repr__(self) -> str:
        return (
            f"TaskGraph({len(self.g)} nodes, {self.g.number_of_edges()} edges, "
            f"{self.start!r} -> {self.goal!r})"
        )
