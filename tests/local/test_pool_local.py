"""A model pool of two real llama.cpp replicas of the tiny model (SmolLM2-135M): a shared
prefix stays on one replica, and a replica killed with SIGKILL is routed around."""

from __future__ import annotations

import os
import signal

import pytest

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, RetryPolicy
from agentroute.events import ModelCallEvent
from agentroute.health import CircuitBreakerMonitor
from agentroute.models.local.server import LocalServer
from agentroute.types import Message
from tests.conftest import run

pytestmark = pytest.mark.local_model


def test_two_replicas_keep_a_prefix_together_and_survive_a_crash(tiny: str) -> None:
    options = ("--cache", "true", "--n_batch", "64", "--interrupt_requests", "false")
    servers = [
        LocalServer(tiny, n_threads=1, n_ctx=512, logits_all=False, name=f"pool-test-{i}",
                    options=options).start()
        for i in range(2)
    ]  # fmt: skip
    try:
        model = Model.openai_compatible(
            [s.url for s in servers], tiny, tier="small",
            retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.01, attempt_timeout_s=120),
        )  # fmt: skip
        agent = Agent("desk", "answers", models=[model], max_tokens=4, temperature=0.0)
        pipeline = Pipeline([agent], policy=FixedTierPolicy("small"),
                            monitors=[CircuitBreakerMonitor(failure_threshold=1)])  # fmt: skip
        system = [Message.system("You answer questions about the Northwind store. " * 25)]

        async def go() -> tuple[list[str | None], list[ModelCallEvent]]:
            served = []
            for q in ("Hello.", "Are you open?"):
                r = await pipeline.arun(q, history=system)
                assert r.output
                served += [c.replica for c in r.trace.events(ModelCallEvent)]
            victim = servers[model.replica_names.index(str(served[0]))]
            assert victim.proc is not None
            os.killpg(victim.proc.pid, signal.SIGKILL)
            victim.proc.wait(10)
            after = await pipeline.arun("Do you ship abroad?", history=system)
            assert after.output
            await pipeline.aclose()
            return served, after.trace.events(ModelCallEvent)

        served, after = run(go())
        assert len(set(served)) == 1  # the prefix stayed where its cache is
        assert [(c.replica == served[0], c.ok) for c in after] == [(True, False), (False, True)]
    finally:
        for s in servers:
            s.stop()
