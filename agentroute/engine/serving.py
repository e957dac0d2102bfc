"""The live state behind pooled models and adapter routing, kept by the engine's I/O layer.

The caller (`agentroute.engine.calls.ModelCaller`) asks here which replica serves an attempt
and which adapter serves a call. The decisions are pure functions (`agentroute.models.pool.pick`,
`agentroute.routers.adapters.choose_adapter`) of a snapshot; this module keeps what they read
(requests in flight per replica, measured time to first token, the replica each prefix last
went to, the adapter bandits and caches) and is told when an attempt is sent and when it ends.
One `Serving` belongs to an engine and is shared by its runs, as the replicas are. In a replay
the snapshot comes from the trace instead, and nothing live is touched.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

from agentroute.events import AdapterPick, ReplicaPick
from agentroute.models import Model
from agentroute.models.pool import HASHED, DualRing, Pick, PoolView, pick, prefix_key
from agentroute.routers.adapters import AdapterChoice, AdapterRouter, choose_adapter
from agentroute.routers.bandit import Features, query_features
from agentroute.types import Completion, HealthSignal, Message, ModelRequest

PENALTIES = frozenset({"half_open", "degraded", "rate_limit"})
"""Health signals whose factor a pool applies to a replica's load: the circuit breaker's and
rate-limit proximity (latency is the pool's own measure, so latency signals are not)."""
WARM_KEYS = 4096
"""Prefixes whose last replica a pool remembers (the oldest is forgotten first)."""
Quality = Callable[[ModelRequest, Completion], float]
"""How good an adapter's answer was, 0..1: what adapter routing learns from."""


class Pool:
    """One pooled model's replicas: their models (one base URL each), names, health
    targets, hash rings, and live counters."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.names = model.replica_names
        self.targets = tuple(f"{model.label}@{n}" for n in self.names)
        self.index = {t: i for i, t in enumerate(self.targets)}
        self.models = tuple(model.replica(i) for i in range(len(self.names)))
        self.ring = DualRing(self.names, model.balance.vnodes)
        self.hashed = model.balance.policy in HASHED
        self.in_flight = [0] * len(self.names)
        self.ttft_s = [0.0] * len(self.names)
        self.turn = 0
        self.warm: OrderedDict[int, int] = OrderedDict()

    def health(self, signals: Sequence[HealthSignal]) -> tuple[float, ...]:
        """Each replica's health factor from the run's signals about it: infinity when any
        marks it down, else the product of the `PENALTIES` factors."""
        factors = [1.0] * len(self.names)
        for s in signals:
            i = self.index.get(s.target)
            if i is not None and s.down:
                factors[i] = math.inf
            elif i is not None and s.kind in PENALTIES:
                factors[i] *= s.multiplier
        return tuple(factors)

    def view(self, key: int | None, health: tuple[float, ...]) -> PoolView:
        return PoolView(tuple(self.in_flight), tuple(self.ttft_s), health,
                        self.warm.get(key) if key is not None else None, self.turn)  # fmt: skip

    def sent(self, i: int, key: int | None) -> None:
        self.in_flight[i] += 1
        self.turn += 1
        if key is not None:
            self.warm[key] = i
            self.warm.move_to_end(key)
            if len(self.warm) > WARM_KEYS:
                self.warm.popitem(last=False)

    def done(self, i: int, ttft_s: float | None) -> None:
        self.in_flight[i] -= 1
        if ttft_s is not None:
            old = self.ttft_s[i]
            a = self.model.balance.ewma
            self.ttft_s[i] = ttft_s if old == 0.0 else (1 - a) * old + a * ttft_s


def recorded_view(event: ReplicaPick, names: Sequence[str]) -> PoolView:
    """The pool's state as a trace recorded it for one pick."""
    warm = names.index(event.warm) if event.warm in names else None
    return PoolView(event.in_flight, event.ttft_s, event.health, warm, event.turn)


class Serving:
    """Per engine: the pools' live state and each adapter-serving model's router.

    ``quality`` scores an adapter's answer 0..1 for the bandit (default: the answer's mean
    token probability when the server sent logprobs, else 1 for an answer); ``features``
    turns a query into the bandit's context vector (default:
    `agentroute.routers.bandit.query_features`; an embedding tells domains apart better)."""

    def __init__(self, quality: Quality | None = None, features: Features | None = None) -> None:
        self.quality = quality
        self.features = features or query_features
        self._pools: dict[str, Pool] = {}
        self._routers: dict[str, tuple[Model, AdapterRouter]] = {}

    def pool(self, model: Model) -> Pool:
        found = self._pools.get(model.label)
        if found is None or (found.model is not model and found.model != model):
            found = self._pools[model.label] = Pool(model)
        return found

    def router(self, model: Model) -> AdapterRouter:
        """The adapter router of ``model`` (it must declare adapters)."""
        found = self._routers.get(model.label)
        if found is None or (found[0] is not model and found[0] != model):
            spec = model.adapters
            assert spec is not None
            router = AdapterRouter(
                spec.names, spec.capacity, {a: spec.paging(a) for a in spec.names},
                epoch=spec.epoch, alpha=spec.alpha, paging_weight=spec.paging_weight,
                features=self.features,
            )  # fmt: skip
            found = self._routers[model.label] = (model, router)
        return found[1]

    def learn(
        self, model: Model, request: ModelRequest, adapter: str, completion: Completion | None
    ) -> None:
        """Teach ``model``'s router what ``adapter`` earned on ``request`` (no completion:
        the call failed, quality 0)."""
        if completion is None:
            quality = 0.0
        elif self.quality is not None:
            quality = float(self.quality(request, completion))
        else:
            confidence = completion.mean_token_prob()
            quality = 1.0 if confidence is None else confidence
        self.router(model).observe(query_of(request), adapter, quality)


def query_of(request: ModelRequest) -> str:
    """What adapter routing reads of a request: its last user message."""
    for m in reversed(request.messages):
        if m.role == "user":
            return m.content
    return request.messages[-1].content if request.messages else ""


def choose_replica(
    pool: Pool,
    messages: Sequence[Message],
    *,
    avoid: frozenset[int],
    signals: Sequence[HealthSignal],
    recorded: ReplicaPick | None,
    replay: bool = False,
) -> tuple[Pick, PoolView, tuple[int, int, str] | None]:
    """The replica for one attempt, from the live pool or, in a ``replay``, from what the
    trace recorded (an idle, healthy pool past the recording)."""
    balance = pool.model.balance
    key = prefix_key(messages, balance.prefix_chars) if pool.hashed else None
    n = len(pool.names)
    if recorded is not None:
        view = recorded_view(recorded, pool.names)
    elif replay:
        view = PoolView((0,) * n, (0.0,) * n, (1.0,) * n)
    else:
        view = pool.view(key[0] if key else None, pool.health(signals))
    choice = pick(balance, pool.ring, key[:2] if key else None, view, avoid, pool.names)
    return choice, view, key


def choose_for(
    serving: Serving,
    model: Model,
    request: ModelRequest,
    recorded: AdapterPick | None,
    replay: bool = False,
) -> AdapterChoice:
    """The adapter for one call: the router's choice, or in a ``replay`` the same rule over
    the bounds and cache the trace recorded (the router neither learns nor counts then)."""
    spec = model.adapters
    assert spec is not None
    router = serving.router(model)
    if not replay:
        return router.choose(query_of(request))
    if recorded is None:  # past the recording: the router's view, left as it is
        return choose_adapter(router.bounds(query_of(request)), router.resident,
                              router.paging, router.paging_weight, router.untried)  # fmt: skip
    return choose_adapter(recorded.scores, recorded.resident, router.paging,
                          spec.paging_weight, recorded.waived)  # fmt: skip
