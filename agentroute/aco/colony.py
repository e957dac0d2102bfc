"""Ant path construction over workflow stages.

A workflow is a list of stages; each stage holds the agent instances that can do it (an agent
on a model, e.g. ``solver@large``). An ant walks the stages, and at each one picks the next
node with probability proportional to

    tau(q, prev -> node) ** alpha * eta(q, node) ** beta,

where tau is the pheromone fused over task types (see `PheromoneMemory.fused`) and eta is the
heuristic: the node's ability on the query's task mix, discounted by its current load and its
recent latency. The random generator is injected, so a seeded colony makes the same choices.

`AntRouter` is the one-stage case behind the `Router` protocol: candidates in, a decision with
the candidates' probabilities out.
"""

from __future__ import annotations

import bisect
import inspect
import itertools
import math
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agentroute.aco.pheromone import START, PheromoneMemory
from agentroute.errors import ConfigError, RoutingError
from agentroute.types import Completer, RouteDecision


@dataclass(frozen=True)
class AgentNode:
    """An agent instance in the colony: ``ability`` per task type in (0, 1] (missing types
    count as ``default_ability``) and a relative ``cost`` per call."""

    name: str
    ability: Mapping[str, float] = field(default_factory=dict)
    default_ability: float = 0.5
    cost: float = 1.0

    def __post_init__(self) -> None:
        values = [*self.ability.values(), self.default_ability, self.cost]
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ConfigError(f"node {self.name!r}: ability and cost must be finite and >= 0")

    def ability_for(self, weights: Mapping[str, float]) -> float:
        return sum(w * self.ability.get(t, self.default_ability) for t, w in weights.items())


def ant_pick(probabilities: Mapping[str, float], draw: float) -> str:
    """The candidate a uniform ``draw`` in [0, 1) lands on when the candidates, in order, share
    the unit interval by their probabilities. Live runs draw from the colony's generator and
    trace the draw; replays pick again from the recorded probabilities and draw. Same result
    as ``random.choices`` for the same draw."""
    names = list(probabilities)
    if not names or not 0.0 <= draw < 1.0:
        raise RoutingError(f"an ant needs candidates and a draw in [0, 1), got {draw!r}")
    cumulative = list(itertools.accumulate(probabilities[n] for n in names))
    return names[bisect.bisect(cumulative, draw * cumulative[-1], 0, len(names) - 1)]


@dataclass(frozen=True)
class Ant:
    """A constructed path, with each step's candidate probabilities."""

    path: tuple[str, ...]
    steps: tuple[dict[str, float], ...]
    weights: dict[str, float]


class Load:
    """In-flight calls and a latency moving average per node: the live part of eta."""

    def __init__(self, smoothing: float = 0.2) -> None:
        self.smoothing = smoothing
        self.in_flight: dict[str, int] = {}
        self.latency_s: dict[str, float] = {}

    def start(self, node: str) -> None:
        self.in_flight[node] = self.in_flight.get(node, 0) + 1

    def finish(self, node: str, latency_s: float) -> None:
        self.in_flight[node] = max(0, self.in_flight.get(node, 0) - 1)
        old = self.latency_s.get(node)
        self.latency_s[node] = (
            latency_s if old is None else old + self.smoothing * (latency_s - old)
        )


@dataclass
class Colony:
    stages: Sequence[Sequence[AgentNode]]
    memory: PheromoneMemory
    alpha: float = 1.0
    beta: float = 2.0
    latency_scale_s: float = 1.0
    load_penalty: float = 0.5
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)
    load: Load = field(default_factory=Load, repr=False)

    def __post_init__(self) -> None:
        if not self.stages or any(not s for s in self.stages):
            raise ConfigError("a colony needs at least one stage, each with at least one node")
        names = [n.name for s in self.stages for n in s]
        if len(set(names)) != len(names):
            raise ConfigError(f"node names must be unique across stages: {names}")
        if self.alpha < 0 or self.beta < 0:
            raise ConfigError("alpha and beta must be >= 0")
        self.nodes = {n.name: n for s in self.stages for n in s}
        previous = [START]
        for stage in self.stages:
            self.memory.ensure((p, n.name) for p in previous for n in stage)
            previous = [n.name for n in stage]

    def eta(self, node: AgentNode, weights: Mapping[str, float]) -> float:
        busy = self.load.in_flight.get(node.name, 0)
        latency = self.load.latency_s.get(node.name, 0.0)
        return max(1e-9, node.ability_for(weights)) / (
            (1.0 + self.load_penalty * busy) * (1.0 + latency / self.latency_scale_s)
        )

    def probabilities(
        self, previous: str, stage: Sequence[AgentNode], weights: Mapping[str, float]
    ) -> dict[str, float]:
        return self._probabilities(previous, stage, self.memory.check_weights(weights))

    def _probabilities(
        self, previous: str, stage: Sequence[AgentNode], w: Mapping[str, float]
    ) -> dict[str, float]:
        """As `probabilities`, for weights already checked and normalised."""
        scores = {
            n.name: self.memory.fused((previous, n.name), w, checked=True) ** self.alpha
            * self.eta(n, w) ** self.beta
            for n in stage
        }
        total = sum(scores.values())
        return {k: v / total for k, v in scores.items()}

    def walk(self, weights: Mapping[str, float]) -> Ant:
        """Construct a path; the returned `Ant` holds the normalised task weights."""
        w = self.memory.check_weights(weights)
        previous, path, steps = START, [], []
        for stage in self.stages:
            p = self._probabilities(previous, stage, w)
            previous = ant_pick(p, self.rng.random())
            path.append(previous)
            steps.append(p)
        return Ant(tuple(path), tuple(steps), w)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


IntentFn = Callable[[str], Mapping[str, float] | Awaitable[Mapping[str, float]]]


@dataclass
class AntRouter:
    """One-stage colony as a `Router`: picks one candidate by the ant rule. Candidates must
    be nodes of the colony's single stage; ``intent`` gives the query's task weights."""

    colony: Colony
    intent: IntentFn
    name: str = "aco"
    last: Ant | None = field(default=None, repr=False)

    async def route(
        self, query: str, candidates: Sequence[_Named], complete: Completer | None
    ) -> RouteDecision:
        names = [c.name for c in candidates]
        if not names or len(set(names)) != len(names):
            raise RoutingError(f"router {self.name!r} needs distinct candidates, got {names}")
        unknown = [n for n in names if n not in self.colony.nodes]
        if unknown:
            raise RoutingError(f"router {self.name!r}: {unknown} are not nodes of the colony")
        weights = self.intent(query)
        if inspect.isawaitable(weights):
            weights = await weights
        stage = [self.colony.nodes[n] for n in names]
        w = self.colony.memory.check_weights(weights)
        p = self.colony._probabilities(START, stage, w)
        pick = ant_pick(p, self.colony.rng.random())
        self.last = Ant((pick,), (p,), w)
        mix = ", ".join(f"{t} {v:.2f}" for t, v in sorted(w.items(), key=lambda kv: -kv[1]))
        return RouteDecision(
            router=self.name,
            chosen=(pick,),
            scores={n: round(v, 6) for n, v in p.items()},
            reason=f"ant chose {pick!r} with p={p[pick]:.2f} (task mix: {mix})",
        )
