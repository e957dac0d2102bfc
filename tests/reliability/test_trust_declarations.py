"""Declarations that would fail later are refused when made, with `ConfigError`; a monitor
that misbehaves (a wrong answer, a swallowed cancellation) is reported and ignored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest

from agentroute import Agent, Budget, ConfigError, Model, Pipeline
from agentroute.graph import TaskGraph
from agentroute.health import CircuitBreakerMonitor, HealthContext
from agentroute.routers import ReasoningRouter
from agentroute.runtime import GraphRunner
from agentroute.types import HealthSignal
from tests.conftest import traced_signals


@pytest.mark.parametrize(
    "declare",
    [
        lambda: ReasoningRouter(max_tokens=0),
        lambda: CircuitBreakerMonitor(failure_threshold=-3),
        lambda: CircuitBreakerMonitor(ewma=7),
        lambda: Budget(usd=-1),
        lambda: Budget(usd=float("nan")),
        lambda: Pipeline([Agent("a", "x", models=[Model.local("tiny")])], budget=0.01),  # type: ignore[arg-type]
        lambda: Pipeline([Agent("a", "x", models=[Model.local("tiny")])], budget_usd=-2),
    ],
)
def test_bad_declarations_are_config_errors(declare: Any) -> None:
    with pytest.raises(ConfigError):
        declare()


def test_hosted_models_without_a_key_are_refused_when_declared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        Model.openai("gpt-4o", price_in=1, price_out=1)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        Model.anthropic("claude", price_in=1, price_out=1)


class _Wrong:
    def __init__(self, name: str, answer: Any) -> None:
        self.name, self.answer = name, answer

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        return self.answer  # type: ignore[no-any-return]


class _Stubborn:
    name = "stubborn"

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        for _ in range(50):
            try:
                await asyncio.sleep(0.1)
            except asyncio.CancelledError:
                continue  # swallows its cancellation
        return []


def test_misbehaving_monitors_are_reported_and_ignored() -> None:
    g = TaskGraph([("s", "a", 1), ("a", "b", 1)], start="s", goal="b")
    monitors = [_Wrong("none", None), _Wrong("dict", {}), _Wrong("text", "down"), _Stubborn()]
    runner = GraphRunner(g, {"a": lambda ctx: 1, "b": lambda ctx: 2}, monitors=monitors,
                         monitor_timeout_s=0.2)  # fmt: skip

    async def timed() -> tuple[Any, float]:
        started = time.monotonic()
        result = await runner.arun("t")
        return result, time.monotonic() - started

    result, took = asyncio.run(timed())  # (the loop's shutdown waits for the stubborn check)
    assert result.status == "completed"
    assert took < 2.0  # two steps, not two stalls of five seconds
    broken = {(monitor, signal) for _, monitor, _, signal, _ in traced_signals(result.trace)}
    assert {("none", "monitor_error"), ("dict", "monitor_error"), ("text", "monitor_error"),
            ("stubborn", "monitor_timeout")} <= broken  # fmt: skip
