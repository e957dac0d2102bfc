"""Retry discipline under outages: a bounded number of requests per task (no retry storm,
however many tasks run at once), cancellation that stops the requests at once, and hard
deadlines with a measured overshoot."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, ReasoningRouter, RunError
from agentroute.errors import DeadlineExceededError
from agentroute.models import RetryPolicy
from agentroute.testing import Fail, FakeModelServer, Hang, Reply

FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05,
                   attempt_timeout_s=2.0, deadline_s=10.0)  # fmt: skip


def _pipeline(server: FakeModelServer, retry: RetryPolicy = FAST) -> Pipeline:
    def model(name: str) -> Model:
        return Model.openai_compatible(server.url, name, tier="small", retry=retry)

    agents = [Agent("billing", "Refunds", models=[model("m")]),
              Agent("shipping", "Parcels", models=[model("m")])]  # fmt: skip
    return Pipeline(agents, router=ReasoningRouter(), router_model=model("router"),
                    policy=FixedTierPolicy("small"), budget_usd=0.05)  # fmt: skip


def test_total_outage_costs_a_bounded_number_of_requests_per_task(
    server: FakeModelServer, figures: dict[str, Any], deep: bool
) -> None:
    server.responder = lambda body: Fail(503)
    pipeline = _pipeline(server)
    tasks = 200 if deep else 50

    async def many() -> list[BaseException | object]:
        return await asyncio.gather(*(pipeline.arun(f"task {i}") for i in range(tasks)),
                                    return_exceptions=True)  # fmt: skip

    outcomes = asyncio.run(many())
    assert all(isinstance(o, RunError) for o in outcomes)  # each ends with a typed error
    # the routing call fails its 3 attempts and the task stops: exactly 3 attempts each (with
    # many tasks at once some attempts fail to connect and never reach the server)
    attempts = [len(o.trace.of_kind("model_call")) for o in outcomes]  # type: ignore[union-attr]
    assert attempts == [FAST.max_attempts] * tasks
    kinds = {e.error_type for o in outcomes for e in o.trace.of_kind("model_call")}  # type: ignore[union-attr]
    assert kinds <= {"ServerError", "AttemptTimeoutError"}  # every attempt classified
    sent = len(server.calls())
    assert sent <= tasks * FAST.max_attempts
    figures[f"total outage, {tasks} tasks at once: attempts / requests per task"] = (
        f"{sum(attempts) / tasks:.2f} / {sent / tasks:.2f} (3 attempts allowed)"
    )


def test_cancellation_stops_requests_at_once(server: FakeModelServer) -> None:
    server.responder = lambda body: Hang(5.0, then=Reply("late"))
    pipeline = _pipeline(server)

    async def go() -> int:
        task = asyncio.create_task(pipeline.arun("hello"))
        for _ in range(500):  # until the first request is in flight (the client loads lazily)
            if server.calls():
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        seen = len(server.calls())
        await asyncio.sleep(0.5)
        assert len(server.calls()) == seen  # nothing was sent after the cancel
        return seen

    assert asyncio.run(go()) == 1


def test_deadline_holds(server: FakeModelServer, figures: dict[str, Any], deep: bool) -> None:
    deadline = 0.4
    retry = RetryPolicy(max_attempts=5, initial_backoff_s=0.01, max_backoff_s=0.05,
                        attempt_timeout_s=0.15, deadline_s=deadline)  # fmt: skip
    server.responder = lambda body: Hang(3.0, then=Reply("late"))
    pipeline = _pipeline(server, retry)
    overshoots = []
    for _ in range(20 if deep else 3):
        started = time.perf_counter()
        with pytest.raises(RunError) as caught:
            pipeline.run("hello")
        overshoots.append(time.perf_counter() - started - deadline)
        assert isinstance(caught.value, DeadlineExceededError)
        calls = caught.value.trace.of_kind("model_call")  # type: ignore[attr-defined]
        assert calls and all(not c.ok for c in calls)  # type: ignore[union-attr]
    # a generous bound for a shared CI machine; the figure below is the measurement
    assert max(overshoots) < 1.0
    figures["deadline 0.4 s: max overshoot (s)"] = round(max(overshoots), 3)
