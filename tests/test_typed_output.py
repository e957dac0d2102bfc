"""Typed outputs: an agent's answer must be its pydantic ``output_type``; a bad answer goes back
with what is wrong, then the next model takes over, all inside the budget."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agentroute import Agent, FixedTierPolicy, Model, Pipeline
from agentroute.errors import ConfigError
from agentroute.events import ModelSwitch, OutputCheck
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import FAST_RETRY


class Refund(BaseModel):
    order_id: str
    amount: float
    approved: bool


GOOD = '{"order_id": "A7", "amount": 49.9, "approved": true}'


def pipeline(server: FakeModelServer, models: tuple[str, ...] = ("m",)) -> Pipeline:
    tiers = ("small", "large")
    declared = [Model.openai_compatible(server.url, n, tier=tiers[i], price_in=1.0,  # type: ignore[arg-type]
                                        price_out=2.0, retry=FAST_RETRY)
                for i, n in enumerate(models)]  # fmt: skip
    agent = Agent("billing", "refunds", models=declared, output_type=Refund)
    return Pipeline([agent], policy=FixedTierPolicy("small"), budget_usd=0.05)


def test_a_bad_answer_goes_back_with_what_is_wrong_and_the_result_is_typed(
    server: FakeModelServer,
) -> None:
    server.script(Reply('{"order_id": "A7"}'), Reply(GOOD))
    result = pipeline(server).run("refund A7, 49.90")
    assert result.data == Refund(order_id="A7", amount=49.9, approved=True)
    assert result.output == GOOD
    checks = result.trace.events(OutputCheck)
    assert [c.ok for c in checks] == [False, True] and "amount" in (checks[0].error or "")
    first, second = (c.body for c in server.calls())
    assert first["response_format"]["json_schema"]["schema"] == Refund.model_json_schema()
    told = second["messages"][-1]["content"]
    assert "does not match the required JSON schema" in told and "approved" in told
    assert pipeline(server).replay(result.trace).identical


def test_a_model_that_keeps_answering_wrong_hands_the_turn_to_the_next_model(
    server: FakeModelServer,
) -> None:
    server.script(Reply("not json"), Reply("{}"), Reply("[1]"), model="small-m")
    server.script(Reply(GOOD), model="large-m")
    result = pipeline(server, ("small-m", "large-m")).run("refund A7, 49.90")
    assert result.data is not None and result.data.order_id == "A7"
    assert [c.ok for c in result.trace.events(OutputCheck)] == [False, False, False, True]
    failover = [e for e in result.trace.events(ModelSwitch) if e.policy == "failover"]
    assert failover and failover[0].to_model == "openai:large-m"
    assert result.cost_usd <= 0.05


def test_the_schema_reaches_claude_in_its_system_prompt_and_output_type_is_checked(
    server: FakeModelServer,
) -> None:
    server.script(Reply(GOOD))
    claude = Model.anthropic("claude-x", api_key="sk-test-not-real", base_url=server.root_url,
                             price_in=3.0, price_out=15.0, retry=FAST_RETRY)  # fmt: skip
    agent = Agent("billing", "refunds", models=[claude], output_type=Refund)
    result = Pipeline([agent]).run("refund A7")
    assert isinstance(result.data, Refund)
    assert '"approved"' in server.calls()[0].body["system"]
    with pytest.raises(ConfigError, match="output_type"):
        Agent("x", "y", models=[claude], output_type=dict)  # type: ignore[arg-type]
