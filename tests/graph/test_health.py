from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agentroute.health import (
    BreakerState,
    CircuitBreakerMonitor,
    HealthContext,
    IntentMonitor,
    LatencyMonitor,
    RateLimitMonitor,
    RiskMonitor,
    RiskRule,
    run_monitors,
)
from agentroute.types import HealthSignal, Outcome
from tests.conftest import run


def ctx(
    outcomes: Sequence[Outcome] = (),
    now: float = 0.0,
    task: str = "t",
    facts: dict[str, float] | None = None,
) -> HealthContext:
    return HealthContext(
        task=task, step=1, nodes=("a", "b"), outcomes=tuple(outcomes), now=now, facts=facts or {}
    )


def fail(t: str = "a", status: int | None = None) -> Outcome:
    return Outcome(target=t, ok=False, latency_s=0.01, status=status)


def ok(t: str = "a", latency_s: float = 0.01) -> Outcome:
    return Outcome(target=t, ok=True, latency_s=latency_s)


def test_breaker_opens_after_three_consecutive_failures_then_recovers_gradually() -> None:
    m = CircuitBreakerMonitor(failure_threshold=3, cooldown_s=10.0, half_open_penalty=4.0)
    history = [fail(), fail()]
    sigs = run(m.check(ctx(history, now=0)))
    assert m.state("a") is BreakerState.CLOSED and not any(s.down for s in sigs)
    history.append(fail())
    [down] = run(m.check(ctx(history, now=1)))
    assert down.down and down.kind == "node_down" and down.priority == 0.9
    assert m.state("a") is BreakerState.OPEN
    [half] = run(m.check(ctx(history, now=11.5)))
    assert half.kind == "half_open" and half.multiplier == 4.0 and not half.down
    history.append(ok())  # a trial call succeeds
    [rec] = run(m.check(ctx(history, now=12)))
    assert m.state("a") is BreakerState.CLOSED and rec.kind == "degraded"
    history.append(ok())
    [rec2] = run(m.check(ctx(history, now=13)))
    assert 1.0 < rec2.multiplier < rec.multiplier  # graded, not binary


def test_breaker_failed_trial_reopens_with_longer_cooldown() -> None:
    m = CircuitBreakerMonitor(failure_threshold=1, cooldown_s=5.0)
    history = [fail()]
    run(m.check(ctx(history, now=0)))
    run(m.check(ctx(history, now=6)))
    assert m.state("a") is BreakerState.HALF_OPEN
    history.append(fail())
    [sig] = run(m.check(ctx(history, now=6.5)))
    assert sig.down
    assert run(m.check(ctx(history, now=12)))[0].down  # 5 s is no longer enough
    assert not run(m.check(ctx(history, now=17)))[0].down


def test_latency_monitor_factor_and_slo() -> None:
    m = LatencyMonitor(slo_ms=100, reference_ms=100, ewma=1.0)
    [s] = run(m.check(ctx([ok(latency_s=0.25)])))
    assert s.multiplier == 2.5 and s.kind == "latency_slo" and s.priority > 0
    [fast] = run(m.check(ctx([ok(latency_s=0.25), ok(latency_s=0.01)])))
    assert fast.multiplier == 0.5 and fast.kind == "latency"


def test_rate_limit_proximity_from_429s_and_facts() -> None:
    m = RateLimitMonitor(window=4)
    [s] = run(m.check(ctx([ok(), fail(status=429), ok(), ok()])))
    assert s.multiplier == 1 + 5 * 0.25
    [f] = run(m.check(ctx(facts={"ratelimit:b": 0.8})))
    assert f.target == "b" and f.multiplier == 5.0


def test_risk_rules_block_targets_when_the_task_matches() -> None:
    m = RiskMonitor([RiskRule(r"delete (all|every)", ("bulk_delete",), reason="destructive")])
    assert run(m.check(ctx(task="please list files"))) == []
    [s] = run(m.check(ctx(task="Delete all records")))
    assert s.down and s.target == "bulk_delete"


def test_intent_monitor_boosts_matching_nodes() -> None:
    m = IntentMonitor({"refund": (["refund", "money back"], ["billing_api"])})
    [s] = run(m.check(ctx(task="I want my money back")))
    assert s.target == "billing_api" and s.multiplier == 0.5


class Broken:
    name = "broken"

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        raise ValueError("sensor offline")


class Slow:
    name = "slow"

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        await asyncio.sleep(10)
        return []


def test_broken_and_slow_monitors_are_reported_and_never_stall() -> None:
    loop_start = asyncio.run(_timed())
    assert loop_start < 1.0


async def _timed() -> float:
    import time

    start = time.monotonic()
    report = await run_monitors(
        [Broken(), Slow(), RateLimitMonitor()], ctx([fail(status=429)]), timeout_s=0.2
    )
    elapsed = time.monotonic() - start
    kinds = sorted(f.kind for f in report.failures)
    assert kinds == ["monitor_error", "monitor_timeout"]
    assert "sensor offline" in str(report.failures)
    assert [s.kind for s in report.signals] == ["rate_limit"]
    assert report.winner is not None and report.winner.kind == "rate_limit"
    return elapsed


def test_a_breaker_shared_by_runs_sees_every_outcome_of_each_run_once() -> None:
    """A monitor outlives runs, and each run's outcome list starts empty: the breaker must
    still see the first failure of a later run (it used to count its place across runs)."""
    import asyncio

    from agentroute.health import CircuitBreakerMonitor, HealthContext
    from agentroute.types import Outcome

    breaker = CircuitBreakerMonitor(failure_threshold=1)
    ok = Outcome(target="api", ok=True, latency_s=0.01)
    bad = Outcome(target="api", ok=False, latency_s=0.01)

    async def check(run: str, outcomes: tuple[Outcome, ...]) -> list[str]:
        ctx = HealthContext(task="t", step=1, nodes=("api",), outcomes=outcomes, run=run)
        return [s.kind for s in await breaker.check(ctx)]

    asyncio.run(check("run-1", (ok, ok, ok)))
    assert asyncio.run(check("run-2", (bad,))) == ["node_down"]
    # and the same run asking again does not count its failure twice
    assert breaker._breakers["api"].consecutive_failures == 1
    asyncio.run(check("run-2", (bad,)))
    assert breaker._breakers["api"].consecutive_failures == 1


class _Keeps:
    """A monitor that hands out its own list or tuple of signals, as told."""

    name = "keeps"

    def __init__(self) -> None:
        self.answer: list[HealthSignal] | tuple[HealthSignal, ...] = ()

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        return self.answer


def test_the_same_answers_give_back_the_last_report_and_anything_else_a_new_one() -> None:
    keeps = _Keeps()
    slow = HealthSignal(monitor="keeps", target="a", kind="slow", multiplier=3.0, priority=0.2)

    async def go() -> None:
        first = await run_monitors([keeps], ctx())
        assert first.signals == () and first.winner is None
        assert await run_monitors([keeps], ctx(), last=first) is first  # no signals, twice
        keeps.answer = (slow,)
        second = await run_monitors([keeps], ctx(), last=first)
        assert second is not first and second.signals == (slow,) and second.winner is slow
        assert await run_monitors([keeps], ctx(), last=second) is second  # the same tuple
        keeps.answer = [slow]
        third = await run_monitors([keeps], ctx(), last=second)
        assert third is not second and third.signals == (slow,)
        keeps.answer.clear()  # a list can change in place: it is never taken as unchanged
        fourth = await run_monitors([keeps], ctx(), last=third)
        assert fourth is not third and fourth.signals == ()

    asyncio.run(go())


def test_a_latency_monitor_hands_back_the_same_tuple_until_a_signal_changes() -> None:
    m = LatencyMonitor(reference_ms=100.0)

    async def go() -> None:
        a = await m.check(ctx([ok("a", 0.001)]))
        b = await m.check(ctx([ok("a", 0.001), ok("a", 0.001)]))
        assert a is b and a[0].multiplier == 0.5
        c = await m.check(ctx([ok("a", 0.001), ok("a", 0.001), ok("a", 2.0)]))
        assert c is not b and c[0].multiplier > 1.0

    asyncio.run(go())
