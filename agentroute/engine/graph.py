"""One graph from the declarations: agents, their model variants, their tools, the router's
branch point and the goal, compiled into a `TaskGraph` with typed nodes.

    ^start -> ^route -> billing  -> billing@openai:small -> ^done
                     |           -> billing@openai:large -> ^done
                     |              billing@...          -> lookup_order   (tool edge, cost)
                     -> shipping -> shipping@...         -> ^done

``^route`` is a branch point (a `Router` picks the agents), each agent a branch point over its
model variants (the switching policy and the ledger pick the tier). After a choice the
alternatives weigh infinity, except the standbys: an agent's other models in its failover
order, and the agents it hands off to. So when a model endpoint fails, Dijkstra moves the
step to the agent's next model, then to a handoff agent, with no LLM call. Tool edges carry
the tool's ``cost``; a tool whose edge weighs infinity is not offered to the model.

A hand-built `TaskGraph` compiles as it is: every node but the start runs a handler.
Pure: no I/O, nothing here runs a model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from agentroute.agents import Agent
from agentroute.errors import ConfigError
from agentroute.graph import TaskGraph, edge_key
from agentroute.models import Model
from agentroute.types import ToolSpec

NodeKind = Literal["start", "route", "agent", "model", "program", "tool", "handler", "goal"]
START, ROUTE, DONE = "^start", "^route", "^done"
STANDBY = 1000.0
"""The factor on a standby edge: taken only when every chosen alternative is gone."""


@dataclass(frozen=True)
class Node:
    name: str
    kind: NodeKind
    agent: str | None = None
    """For agent, model and program nodes: the agent they belong to."""
    model: Model | None = None
    aliases: tuple[str, ...] = ()
    """Health targets that also reach this node: a model variant answers to its model's
    label, so one endpoint failing reweights every agent that uses it."""


@dataclass(frozen=True)
class Choice:
    """What a chooser decided at a branch point: the successors to take, and the standbys
    in the order they are tried when the chosen ones fail."""

    chosen: tuple[str, ...]
    standby: tuple[str, ...] = ()
    covered: tuple[str, ...] = ()
    """Agents this branch hands off to that answer in a sibling branch anyway: when the
    branch has no way left, it hands off to them instead of running them twice."""

    def factors(self, node: str, successors: Sequence[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        rank = {s: i for i, s in enumerate(self.standby)}
        for s in successors:
            if s in self.chosen:
                continue
            out[edge_key(node, s)] = STANDBY * (1 + rank[s]) if s in rank else math.inf
        return out


@dataclass
class RunGraph:
    """The compiled graph of a run: the `TaskGraph` (weights, Dijkstra) and what each node is."""

    graph: TaskGraph
    nodes: dict[str, Node]
    branch_points: frozenset[str] = frozenset()
    """Nodes whose successors a chooser picks (Dijkstra decides everywhere else)."""
    workflow: bool = False
    """A hand-built graph: an agent node reads the results so far and its answer becomes a
    result; several agents' answers are not merged (a pipeline's are, by its refiner)."""
    successors: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names = self.graph.nodes
        self.successors = {n: tuple(self.graph.g.successors(n)) for n in self.names}
        self.aliased = {n.name: n.aliases for n in self.nodes.values() if n.aliases}

    def kind(self, name: str) -> NodeKind:
        return self.nodes[name].kind

    def variant(self, agent: str, label: str) -> str:
        return f"{agent}@{label}"

    def tools_of(self, node: str) -> tuple[str, ...]:
        return tuple(s for s in self.successors[node] if self.nodes[s].kind == "tool")


def from_task_graph(
    graph: TaskGraph, agents: Mapping[str, Agent] | None = None, routes: Sequence[str] = ()
) -> RunGraph:
    """A hand-built graph: handler nodes as they are; a node served by an `Agent` becomes a
    branch point over the agent's model variants (which lead where the node led); a node in
    ``routes`` becomes a branch point whose chooser picks among its successor agents."""
    agents = dict(agents or {})
    nodes = {n: Node(n, "start" if n == graph.start else "handler") for n in graph.nodes}
    if not agents and not routes:
        return RunGraph(graph, nodes, workflow=True)
    _check_agent_nodes(graph, agents, routes)
    edges = list(graph.edges)
    goal = graph.goal
    for x, a in agents.items():
        if a.runner is not None:
            nodes[x] = Node(x, "program", agent=x)
            continue
        nodes[x] = Node(x, "agent", agent=x)
        after = [(v, c) for u, v, c in edges if u == x]
        edges = [e for e in edges if e[0] != x]
        if x == graph.goal:
            after, goal = [(DONE, 0.0)], DONE
            nodes[DONE] = Node(DONE, "goal")
        for m in (*a.models, *a.fallbacks):
            v = f"{x}@{m.label}"
            nodes[v] = Node(v, "model", agent=x, model=m, aliases=(m.label,))
            edges += [(x, v, model_cost(m)), *((v, s, c) for s, c in after)]
            edges += [(v, t.name, t.cost) for t in a.tools]
            nodes |= {t.name: Node(t.name, "tool") for t in a.tools}
    for r in routes:
        nodes[r] = Node(r, "route")
    compiled = TaskGraph(
        edges,
        start=graph.start,
        goal=goal,
        nodes={n: _kind(x) for n, x in nodes.items()},
        lesser_goals=graph.lesser_goals,
        requires=graph.requires,
    )
    points = frozenset(routes) | {x for x, a in agents.items() if a.runner is None}
    return RunGraph(compiled, nodes, points, workflow=True)


def _check_agent_nodes(
    graph: TaskGraph, agents: Mapping[str, Agent], routes: Sequence[str]
) -> None:
    prerequisites = {p for ps in graph.requires.values() for p in ps}
    for x, a in agents.items():
        if a.name != x:
            raise ConfigError(f"node {x!r} is served by agent {a.name!r}: name them alike")
        if x == graph.start or x in prerequisites or x in graph.lesser_goals:
            raise ConfigError(
                f"agent node {x!r} cannot be the start, a lesser goal or a join's "
                "prerequisite: put a handler node after it"
            )
        if a.runner is None and not a.models:
            raise ConfigError(f"agent {x!r} declares no model to run on")
        clash = sorted({t.name for t in a.tools} & set(graph.nodes))
        if clash:
            raise ConfigError(f"agent {x!r}: tools {clash} share names with graph nodes")
    for r in routes:
        succ = list(graph.g.successors(r))
        if r == graph.start or r == graph.goal or not succ or any(s not in agents for s in succ):
            raise ConfigError(
                f"route node {r!r} must lead only to agent nodes (it leads to {succ})"
            )


def model_cost(model: Model) -> float:
    """A variant's base weight: 1 plus its blended price (USD per million tokens)."""
    return 1.0 + (model.price.input_per_mtok + 3 * model.price.output_per_mtok) / 4


def from_agents(agents: Sequence[Agent]) -> RunGraph:
    """Compile declared agents (validated: unique names, known handoffs, no clash between an
    agent's and a tool's name) into one graph."""
    nodes: dict[str, Node] = {
        START: Node(START, "start"),
        ROUTE: Node(ROUTE, "route"),
        DONE: Node(DONE, "goal"),
    }
    edges: list[tuple[str, str, float]] = [(START, ROUTE, 0.0)]
    tools: dict[str, float] = {}
    for a in agents:
        for t in a.tools:
            if tools.setdefault(t.name, t.cost) != t.cost:
                raise ConfigError(f"tool {t.name!r} is declared twice with different costs")
    clash = sorted(set(tools) & {a.name for a in agents})
    if clash:
        raise ConfigError(f"agents and tools must not share names: {clash}")
    for name in tools:
        nodes[name] = Node(name, "tool")
    for a in agents:
        edges.append((ROUTE, a.name, 1.0))
        if a.runner is not None:
            nodes[a.name] = Node(a.name, "program", agent=a.name)
            edges.append((a.name, DONE, 0.0))
            continue
        nodes[a.name] = Node(a.name, "agent", agent=a.name)
        for m in (*a.models, *a.fallbacks):
            v = f"{a.name}@{m.label}"
            if v in nodes:
                continue
            nodes[v] = Node(v, "model", agent=a.name, model=m, aliases=(m.label,))
            edges += [(a.name, v, model_cost(m)), (v, DONE, 0.0)]
            edges += [(v, t.name, t.cost) for t in a.tools]
    graph = TaskGraph(edges, start=START, goal=DONE, nodes={n: _kind(x) for n, x in nodes.items()})
    points = frozenset({ROUTE} | {n for n, x in nodes.items() if x.kind == "agent"})
    return RunGraph(graph, nodes, points)


def from_stages(stages: Sequence[Sequence[str]]) -> RunGraph:
    """Workflow stages (an ant colony's): every node of a stage may follow every node of the
    one before; a chooser at the start and at each node picks the next stage's node."""
    nodes = {START: Node(START, "start"), DONE: Node(DONE, "goal")}
    edges: list[tuple[str, str, float]] = []
    previous = [START]
    for stage in stages:
        for name in stage:
            nodes[name] = Node(name, "handler")
        edges += [(p, n, 1.0) for p in previous for n in stage]
        previous = list(stage)
    edges += [(p, DONE, 0.0) for p in previous]
    graph = TaskGraph(edges, start=START, goal=DONE, nodes={n: _kind(x) for n, x in nodes.items()})
    points = frozenset({START} | {n for stage in stages[:-1] for n in stage})
    return RunGraph(graph, nodes, points)


def check_labels(models: Sequence[Model]) -> None:
    """Every model one runner may call has its own label (traces, budgets and replays go by
    it): two different endpoints under one label are a `ConfigError`."""
    seen: dict[str, Model] = {}
    for m in models:
        other = seen.setdefault(m.label, m)
        if _endpoint(other) != _endpoint(m):
            where = "base URLs" if other.base_url != m.base_url else "credentials"
            raise ConfigError(
                f"two models are labelled {m.label!r} but differ in their {where} "
                f"({other.base_url} and {m.base_url}); give one of them alias=..."
            )


def _endpoint(m: Model) -> tuple[object, ...]:
    """What tells one endpoint from another (tier, price and retry are per use)."""
    return (m.provider, m.name, m.base_url, m.replicas, m.api_key)


def _kind(node: Node) -> Literal["agent", "tool", "start", "goal"]:
    if node.kind in ("start", "goal", "tool"):
        return node.kind
    return "agent"


def failover(agent: Agent, chosen: Model) -> tuple[Model, ...]:
    """The order an agent's other models are tried in when ``chosen`` fails: its declared
    ``fallbacks`` first when it has them, then its other models, nearest tier first."""
    others = [m for m in agent.models if m.label != chosen.label]
    others.sort(key=lambda m: abs(agent.models.index(m) - _index(agent, chosen)))
    seen: dict[str, Model] = {}
    for m in (*agent.fallbacks, *others):
        if m.label != chosen.label:
            seen.setdefault(m.label, m)
    return tuple(seen.values())


def _index(agent: Agent, model: Model) -> int:
    labels = [m.label for m in agent.models]
    return labels.index(model.label) if model.label in labels else 0


def handoffs(agents: Mapping[str, Agent], chosen: Sequence[str]) -> tuple[str, ...]:
    """Standby agents at the route: those the chosen agents hand off to, in declared order."""
    out: list[str] = []
    for name in chosen:
        out += [h for h in agents[name].handoffs if h not in chosen and h not in out]
    return tuple(out)


HANDOFF_PREFIX = "transfer_to_"
MAX_HANDOFFS = 3
"""A task is handed from agent to agent at most this many times (no ping-pong)."""


def handoff_tools(agent: Agent, agents: Mapping[str, Agent]) -> dict[str, ToolSpec]:
    """The tools that let ``agent``'s model hand the task to one of its ``handoffs``, by
    target agent: ``transfer_to_<agent>``, with the target's description."""
    out: dict[str, ToolSpec] = {}
    for name in agent.handoffs:
        target = agents[name]
        tool = HANDOFF_PREFIX + re.sub(r"[^A-Za-z0-9_-]", "_", name)
        out[name] = ToolSpec(
            name=tool,
            description=f"Hand this conversation to the {name} agent ({target.description}) "
            "when the request is theirs to answer, not yours.",
            parameters={
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "why, briefly"}},
            },
        )
    return out
