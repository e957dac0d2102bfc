"""A circuit breaker per node with graded recovery, driven by observed outcomes.

closed -> open after ``failure_threshold`` consecutive failures; open -> half-open after the
cooldown, when trial calls are let through at a penalty; a trial success closes the breaker
but the node keeps a penalty that halves with each further success; a trial failure opens it
again with twice the cooldown. Reliability is an exponentially weighted success rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from agentroute.errors import ConfigError
from agentroute.health.monitor import HealthContext, OutcomeCursor
from agentroute.types import HealthSignal, Outcome


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class _Breaker:
    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    opened_at: float = 0.0
    cooldown_s: float = 0.0
    recovery_penalty: float = 1.0
    reliability: float = 1.0


class CircuitBreakerMonitor:
    """Tool/agent health: the paper's "down after 3 consecutive failures", plus half-open
    trials and graded recovery instead of a binary switch."""

    def __init__(
        self,
        *,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        half_open_penalty: float = 4.0,
        ewma: float = 0.3,
        name: str = "breaker",
    ) -> None:
        if failure_threshold < 1 or cooldown_s < 0 or half_open_penalty < 1:
            raise ConfigError(
                "need failure_threshold >= 1, cooldown_s >= 0 and half_open_penalty >= 1; got "
                f"{failure_threshold}, {cooldown_s}, {half_open_penalty}"
            )
        if not 0 < ewma <= 1:
            raise ConfigError(f"ewma must lie in (0, 1], not {ewma}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.half_open_penalty = half_open_penalty
        self.ewma = ewma
        self._breakers: dict[str, _Breaker] = {}
        self._unwell: set[str] = set()
        """Targets not closed-and-healthy: the only ones a check has anything to say about."""
        self._cursor = OutcomeCursor()

    def state(self, target: str) -> BreakerState:
        b = self._breakers.get(target)
        return b.state if b else BreakerState.CLOSED

    def observe(self, outcome: Outcome, now: float) -> None:
        b = self._breakers.setdefault(outcome.target, _Breaker())
        b.reliability = (1 - self.ewma) * b.reliability + self.ewma * (1.0 if outcome.ok else 0.0)
        if outcome.ok:
            b.consecutive_failures = 0
            if b.state is BreakerState.HALF_OPEN:
                b.state = BreakerState.CLOSED
                b.recovery_penalty = self.half_open_penalty / 2
                b.cooldown_s = 0.0
            else:
                b.recovery_penalty = max(1.0, b.recovery_penalty / 2)
            return
        b.consecutive_failures += 1
        if b.state is BreakerState.HALF_OPEN:
            b.state, b.opened_at = BreakerState.OPEN, now
            b.cooldown_s = max(self.cooldown_s, b.cooldown_s * 2)
        elif b.consecutive_failures >= self.failure_threshold:
            b.state, b.opened_at = BreakerState.OPEN, now
            b.cooldown_s = b.cooldown_s or self.cooldown_s

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        for outcome in self._cursor.new(ctx):
            self.observe(outcome, ctx.now)
            self._unwell.add(outcome.target)
        if not self._unwell:
            return []
        signals = []
        for target in sorted(self._unwell):
            b = self._breakers[target]
            if b.state is BreakerState.OPEN and ctx.now - b.opened_at >= b.cooldown_s:
                b.state = BreakerState.HALF_OPEN
            healthy = b.reliability >= 0.999 and b.recovery_penalty <= 1.0
            if b.state is BreakerState.CLOSED and healthy:
                self._unwell.discard(target)
                continue  # nothing to say about a healthy node (the common case, kept cheap)
            detail: dict[str, float | str] = {
                "state": b.state.value,
                "consecutive_failures": b.consecutive_failures,
                "reliability": round(b.reliability, 4),
            }
            if b.state is BreakerState.OPEN:
                signals.append(
                    HealthSignal(
                        monitor=self.name,
                        target=target,
                        kind="node_down",
                        priority=0.9,
                        down=True,
                        detail=detail,
                    )
                )
            elif b.state is BreakerState.HALF_OPEN:
                signals.append(
                    HealthSignal(
                        monitor=self.name,
                        target=target,
                        kind="half_open",
                        priority=0.5,
                        multiplier=self.half_open_penalty,
                        detail=detail,
                    )
                )
            elif b.reliability < 0.999 or b.recovery_penalty > 1.0:
                factor = b.recovery_penalty / max(0.01, b.reliability)
                signals.append(
                    HealthSignal(
                        monitor=self.name,
                        target=target,
                        kind="degraded",
                        priority=round(0.3 * (1 - b.reliability), 4),
                        multiplier=factor,
                        detail=detail,
                    )
                )
        return signals
