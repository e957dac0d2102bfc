"""An endpoint's in-flight gate: at most ``Model.max_in_flight`` requests at once from one
event loop; the others wait in line, and their ``model_call`` events say how long."""

from __future__ import annotations

import asyncio

import pytest

from agentroute import Agent, Model, Pipeline, Result
from agentroute.errors import ConfigError
from agentroute.events import ModelCallEvent
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import run


def _six_at_once(server: FakeModelServer, max_in_flight: int) -> list[Result]:
    server.script(*[Reply("ok", delay_s=0.25)] * 6)
    model = Model.openai_compatible(server.url, "m", max_in_flight=max_in_flight)
    pipeline = Pipeline([Agent("a", "answers", models=[model])])

    async def go() -> list[Result]:
        try:
            return list(await asyncio.gather(*(pipeline.arun(f"q{i}") for i in range(6))))
        finally:
            await pipeline.aclose()

    return run(go())


def queued(results: list[Result]) -> list[float]:
    return sorted(e.queued_s or 0.0 for r in results for e in r.trace.events(ModelCallEvent))


def test_calls_past_the_limit_wait_in_line_and_say_so(server: FakeModelServer) -> None:
    results = _six_at_once(server, max_in_flight=2)
    assert all(r.output == "ok" for r in results)
    waits = queued(results)
    # two go at once, two wait one reply (0.25 s), two wait two
    assert waits[:2] == [0.0, 0.0]
    assert all(w >= 0.2 for w in waits[2:]) and waits[-1] >= 0.45


def test_under_the_limit_nothing_waits(server: FakeModelServer) -> None:
    assert queued(_six_at_once(server, max_in_flight=100)) == [0.0] * 6


def test_the_limit_is_checked() -> None:
    with pytest.raises(ConfigError):
        Model.openai_compatible("http://127.0.0.1:1/v1", "m", max_in_flight=0)
