"""Built-in monitors: latency against an SLO, rate-limit proximity, rules for risk, intent."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agentroute.health.monitor import HealthContext, OutcomeCursor
from agentroute.types import HealthSignal


@dataclass
class LatencyMonitor:
    """Weight factor ``max(0.5, latency_ms / reference_ms)`` from an EWMA of observed
    latencies; a node over its SLO also raises a signal with priority."""

    slo_ms: float = 1000.0
    reference_ms: float = 100.0
    ewma: float = 0.3
    name: str = "latency"
    _latency_ms: dict[str, float] = field(default_factory=dict)
    _cursor: OutcomeCursor = field(default_factory=OutcomeCursor)
    _out: list[HealthSignal] = field(default_factory=list)
    """The signals, one per target seen, in the order first seen."""
    _slot: dict[str, int] = field(default_factory=dict)
    """Where each target's signal stands in ``_out``."""
    _answer: tuple[HealthSignal, ...] = ()
    """``_out`` as last handed out: the same tuple again while no signal changed."""

    def _signal(self, target: str, ms: float, old: HealthSignal | None) -> HealthSignal:
        """The signal for ``ms``; ``old`` itself when it says the same (kind, priority and
        factor), so consumers can skip what did not change."""
        over = ms > self.slo_ms
        kind = "latency_slo" if over else "latency"
        priority = min(1.0, 0.4 * ms / self.slo_ms) if over else 0.0
        multiplier = max(0.5, ms / self.reference_ms)
        if old is not None and (old.kind, old.priority, old.multiplier) == (
            kind, priority, multiplier
        ):  # fmt: skip
            return old
        return HealthSignal(
            monitor=self.name, target=target, kind=kind, priority=priority,
            multiplier=multiplier, detail={"latency_ms": round(ms, 2), "slo_ms": self.slo_ms},
        )  # fmt: skip

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        """Only the targets with new outcomes are looked at again (a step observes one or
        two); a signal that says the same stays the same object, and so does the answer."""
        changed = False
        for o in self._cursor.new(ctx):
            ms = o.latency_s * 1000
            prev = self._latency_ms.get(o.target)
            ms = self._latency_ms[o.target] = (
                ms if prev is None else (1 - self.ewma) * prev + self.ewma * ms
            )
            slot = self._slot.get(o.target)
            if slot is None:
                self._slot[o.target] = len(self._out)
                self._out.append(self._signal(o.target, ms, None))
                changed = True
            elif (new := self._signal(o.target, ms, self._out[slot])) is not self._out[slot]:
                self._out[slot], changed = new, True
        if changed:
            self._answer = tuple(self._out)
        return self._answer


@dataclass
class RateLimitMonitor:
    """Proximity to a rate limit from the share of recent 429s (or a fact the runtime sets,
    ``ratelimit:<node>`` in [0, 1], from rate headers); factor ``1 + 5 x proximity``."""

    window: int = 10
    name: str = "rate_limit"

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        recent: dict[str, list[bool]] = {}
        for o in ctx.outcomes:
            recent.setdefault(o.target, []).append(o.status == 429)
        proximity = {t: sum(v[-self.window :]) / len(v[-self.window :]) for t, v in recent.items()}
        for key, value in ctx.facts.items():
            if key.startswith("ratelimit:"):
                t = key.removeprefix("ratelimit:")
                proximity[t] = max(proximity.get(t, 0.0), min(1.0, max(0.0, value)))
        return [
            HealthSignal(
                monitor=self.name,
                target=t,
                kind="rate_limit",
                priority=0.6 * p,
                multiplier=1 + 5 * p,
                detail={"proximity": round(p, 4)},
            )
            for t, p in proximity.items()
            if p > 0
        ]


@dataclass(frozen=True)
class RiskRule:
    """When ``pattern`` matches the task, the ``targets`` are taken out (``block``) or
    penalised; the priority says how strongly the rule claims the control decision."""

    pattern: str
    targets: tuple[str, ...]
    block: bool = True
    penalty: float = 10.0
    priority: float = 0.95
    reason: str = ""
    escalate: bool = False
    """Hand the task to a human when this rule wins the control decision."""


@dataclass
class RiskMonitor:
    rules: Sequence[RiskRule]
    name: str = "risk"

    def __post_init__(self) -> None:
        self._compiled = [(re.compile(r.pattern, re.I), r) for r in self.rules]

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        out = []
        for rx, rule in self._compiled:
            if rx.search(ctx.task):
                out += [
                    HealthSignal(
                        monitor=self.name,
                        target=t,
                        kind="risk",
                        priority=rule.priority,
                        down=rule.block,
                        multiplier=1.0 if rule.block else rule.penalty,
                        action="escalate" if rule.escalate else "reweight",
                        detail={"rule": rule.pattern, "reason": rule.reason},
                    )
                    for t in rule.targets
                ]
        return out


@dataclass
class IntentMonitor:
    """Keyword intents: nodes that serve the task's intent get cheaper (factor ``boost``)."""

    intents: Mapping[str, tuple[Sequence[str], Sequence[str]]]
    """intent -> (keywords, nodes that serve it)"""
    boost: float = 0.5
    name: str = "intent"

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        text = ctx.task.lower()
        out = []
        for intent, (keywords, nodes) in self.intents.items():
            hits = [k for k in keywords if k.lower() in text]
            if hits:
                out += [
                    HealthSignal(
                        monitor=self.name,
                        target=n,
                        kind="intent",
                        priority=0.2,
                        multiplier=self.boost,
                        detail={"intent": intent},
                    )
                    for n in nodes
                ]
        return out
