"""Ant path construction over workflow stages.

A workflow is a list of stages; each stage holds the agent instances that can do it (an agent
on a model, e.g. ``solver@large``). An ant walks the stages, and at each one picks the next
node with probability proportional to

    tau(q, prev -> node) ** alpha * eta(q, node) ** beta,

where tau is the pheromone fused over task types (see `PheromoneMemory.fused`) and eta is the
heuristic: the node's ability on the query's task mix, discounted by its recent latency (from
the engine's outcomes, `Load`) and, only when ``load_penalty`` > 0, by its calls in flight.

With ``explore`` > 0 each type's pheromone gets an exploration bonus that shrinks as evidence
about the edge grows:

    tau_t(edge) + explore / sqrt(1 + traffic_t(edge) + in_flight_t(edge)),

where traffic is the evaporating count of ants whose outcome was learned (see
`PheromoneTable.traffic`) and in_flight the ants drawn onto the edge whose outcome is not yet
learned (the `InFlight` ledger). An edge nobody walks regains its bonus as its traffic
evaporates, so a colony keeps checking the agents it stopped choosing; work in flight counts
as evidence on its way, so many ants out at once do not all rush onto the same unexplored
edge before its first outcomes are back. The ledger is filled by the engine's `AntChooser`
and settled by `ColonyRunner` when a run's outcome goes to the learner.

The random generator is injected, so a seeded colony makes the same choices given the same
tables and ledger.

`AntRouter` is the one-stage case behind the `Router` protocol: candidates in, a decision with
the candidates' probabilities out.
"""

from __future__ import annotations

import bisect
import inspect
import itertools
import math
import random
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agentroute.aco.inflight import Dispatch, InFlight
from agentroute.aco.pheromone import START, PheromoneMemory
from agentroute.errors import ConfigError, RoutingError
from agentroute.types import Completer, Outcome, RouteDecision


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
    """A latency moving average per node, the live part of eta, learned from the engine's
    `Outcome` records (one per attempt: the engine's caller times every stage, so the colony
    keeps no clock of its own)."""

    def __init__(self, smoothing: float = 0.2) -> None:
        self.smoothing = smoothing
        self.latency_s: dict[str, float] = {}

    def observe(self, outcome: Outcome) -> None:
        old = self.latency_s.get(outcome.target)
        new = outcome.latency_s
        self.latency_s[outcome.target] = new if old is None else old + self.smoothing * (new - old)


@dataclass
class Colony:
    """The workflow's stages, the pheromone memory they are chosen by, and the live state a
    choice reads: latencies (`Load`) and the steps in flight (`InFlight`). ``alpha`` sets how
    sharply better pheromone wins: the trail rule's tables (0.2 to 2) suit about 3; the rate
    rule's success rates are close together (0.85 against 0.9) and need about 80, which makes
    the choice nearly greedy and leaves exploring to ``explore``."""

    stages: Sequence[Sequence[AgentNode]]
    memory: PheromoneMemory
    alpha: float = 1.0
    beta: float = 2.0
    latency_scale_s: float = 1.0
    load_penalty: float = 0.0
    """Per call in flight on a node, a divisor of its eta: only for agents with a real
    capacity limit. It counts calls, not evidence, so it spreads work towards uniform as
    concurrency rises (0.5, the old default, took benchmarks/aco_load.py from 87.3% right at
    one task in flight to 73.7% at 1,000)."""
    explore: float = 0.0
    """The exploration bonus's scale, in the pheromone's units (see the module docstring)."""
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)
    load: Load = field(default_factory=Load, repr=False)
    inflight: InFlight = field(default_factory=InFlight, repr=False)

    def __post_init__(self) -> None:
        if not self.stages or any(not s for s in self.stages):
            raise ConfigError("a colony needs at least one stage, each with at least one node")
        names = [n.name for s in self.stages for n in s]
        if len(set(names)) != len(names):
            raise ConfigError(f"node names must be unique across stages: {names}")
        if self.alpha < 0 or self.beta < 0:
            raise ConfigError("alpha and beta must be >= 0")
        if not all(math.isfinite(x) and x >= 0 for x in (self.explore, self.load_penalty)):
            raise ConfigError("explore and load_penalty must be finite and >= 0")
        self.nodes = {n.name: n for s in self.stages for n in s}
        previous = [START]
        for stage in self.stages:
            self.memory.ensure((p, n.name) for p in previous for n in stage)
            previous = [n.name for n in stage]

    def eta(self, node: AgentNode, weights: Mapping[str, float]) -> float:
        busy = self.inflight.busy(node.name) if self.load_penalty else 0
        latency = self.load.latency_s.get(node.name, 0.0)
        return max(1e-9, node.ability_for(weights)) / (
            (1.0 + self.load_penalty * busy) * (1.0 + latency / self.latency_scale_s)
        )

    def tau(self, previous: str, node: str, w: Mapping[str, float]) -> float:
        """The fused pheromone on ``previous -> node`` with the exploration bonus; ``w`` must
        come from `PheromoneMemory.check_weights`."""
        edge = (previous, node)
        tau = self.memory.fused(edge, w, checked=True)
        if not self.explore:
            return tau
        ledger, tables = self.inflight, self.memory.tables
        unknown = sum(
            wt / math.sqrt(1.0 + tables[t].traffic(edge) + ledger.pending(edge, t))
            for t, wt in w.items()
        )
        return tau + self.explore * unknown

    def probabilities(
        self, previous: str, stage: Sequence[AgentNode], weights: Mapping[str, float]
    ) -> dict[str, float]:
        return self._probabilities(previous, stage, self.memory.check_weights(weights))

    def _probabilities(
        self, previous: str, stage: Sequence[AgentNode], w: Mapping[str, float]
    ) -> dict[str, float]:
        """As `probabilities`, for weights already checked and normalised."""
        # in logs, so a high alpha (the rate rule's) cannot underflow every score to zero
        logs = {
            n.name: self.alpha * math.log(self.tau(previous, n.name, w))
            + self.beta * math.log(self.eta(n, w))
            for n in stage
        }
        top = max(logs.values())
        scores = {k: math.exp(v - top) for k, v in logs.items()}
        total = sum(scores.values())
        return {k: v / total for k, v in scores.items()}

    def dispatch(self, key: Hashable, previous: str, node: str, w: Mapping[str, float]) -> None:
        """Record a drawn step in the in-flight ledger until `settle` (``w`` checked)."""
        self.inflight.dispatch(key, Dispatch((previous, node), w))

    def settle(self, key: Hashable) -> tuple[Dispatch, ...]:
        """The run ``key``'s outcome is going to the learner: its steps leave the ledger."""
        return self.inflight.settle(key)

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
