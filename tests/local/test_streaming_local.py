"""Streaming on the embedded llama.cpp server: token by token, and a stream cut mid-answer by
the fault proxy continued on the large model from where it broke."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, Result, RetryPolicy
from agentroute.events import ModelCallEvent
from agentroute.fault_proxy import FaultProxy, Reset
from agentroute.models.local.server import POOL
from agentroute.types import TextDelta
from tests.conftest import run

pytestmark = pytest.mark.local_model
ONCE = RetryPolicy(max_attempts=1, attempt_timeout_s=120.0, deadline_s=240.0)
TASK = "List the four seasons of the year, in order, one per line."


async def streamed(pipeline: Pipeline) -> tuple[list[TextDelta], Result]:
    stream = pipeline.stream(TASK)
    deltas = [i async for i in stream if isinstance(i, TextDelta)]
    return deltas, await stream.result()


def test_the_small_model_streams_token_by_token(small_and_large: None) -> None:
    agent = Agent("helper", "general questions", models=[Model.local("small")], max_tokens=40)
    deltas, result = run(streamed(Pipeline([agent])))
    output = result.output
    assert len(deltas) >= 5  # one piece per token, not one block
    assert "".join(d.text for d in deltas) == output and output.strip()


def test_a_local_stream_cut_mid_answer_goes_on_on_the_large_model(small_and_large: None) -> None:
    port = urlsplit(POOL.url_for("small")).port
    assert port is not None
    with FaultProxy(port) as proxy:
        proxy.script(Reset(after=0.5))
        small = Model.openai_compatible(proxy.url, "small", tier="small", retry=ONCE)
        large = Model.openai_compatible(POOL.url_for("large"), "large", tier="large", retry=ONCE)
        pipeline = Pipeline([Agent("helper", "general questions", models=[small, large],
                                   max_tokens=40)], policy=FixedTierPolicy("small"))  # fmt: skip
        deltas, result = run(streamed(pipeline))
    output = result.output
    report = run(pipeline.areplay(result.trace))  # zero model calls
    assert report.identical, report
    broken, resumed = result.trace.events(ModelCallEvent)
    assert not broken.ok and broken.partial and resumed.ok and resumed.model == "openai:large"
    assert output.startswith(broken.partial) and len(output) > len(broken.partial)
    assert "".join(d.text for d in deltas) == output
    assert {d.model for d in deltas} == {"openai:small", "openai:large"}
