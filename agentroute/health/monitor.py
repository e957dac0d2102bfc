"""The `HealthMonitor` protocol and the runner that polls monitors concurrently.

A monitor looks at what the runtime has observed so far (outcomes of earlier attempts, the
task text) and returns signals. Monitors run in parallel on every step under a deadline; a
monitor that raises or overruns is reported as a signal of its own and never stalls the step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agentroute.types import HealthSignal, Outcome


@dataclass(frozen=True)
class HealthContext:
    """What monitors may look at: the task, the step, the nodes, and the recent outcomes."""

    task: str
    step: int
    nodes: tuple[str, ...]
    outcomes: tuple[Outcome, ...] = ()
    now: float = 0.0
    facts: dict[str, float] = field(default_factory=dict)
    branch: str | None = None
    """The fan-out branch asking (None for the task's main line)."""


@runtime_checkable
class HealthMonitor(Protocol):
    @property
    def name(self) -> str: ...

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]: ...


@dataclass(frozen=True)
class MonitorReport:
    signals: tuple[HealthSignal, ...]
    failures: tuple[HealthSignal, ...]

    @property
    def winner(self) -> HealthSignal | None:
        """The highest-priority signal: it takes the control decision (none when no signal
        claims any priority)."""
        every = self.signals + self.failures
        best = max(every, key=lambda s: s.priority) if every else None
        return best if best is not None and best.priority > 0 else None


async def run_monitors(
    monitors: Sequence[HealthMonitor], ctx: HealthContext, *, timeout_s: float = 0.5
) -> MonitorReport:
    """Run every monitor concurrently; collect their signals and report their failures."""

    async def one(m: HealthMonitor) -> tuple[Sequence[HealthSignal], HealthSignal | None]:
        detail: dict[str, float | str]
        try:
            async with asyncio.timeout(timeout_s):
                return await m.check(ctx), None
        except TimeoutError:
            why, detail = "monitor_timeout", {"timeout_s": timeout_s}
        except Exception as exc:  # a broken monitor must not break the step
            why, detail = "monitor_error", {"error": f"{type(exc).__name__}: {exc}"[:300]}
        return (), HealthSignal(monitor=m.name, target=m.name, kind=why, detail=detail)

    results = await asyncio.gather(*(one(m) for m in monitors))
    signals = tuple(s for sigs, _ in results for s in sigs)
    failures = tuple(f for _, f in results if f is not None)
    return MonitorReport(signals, failures)
