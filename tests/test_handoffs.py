"""Handoffs the model takes: an agent's model calls ``transfer_to_<agent>`` and the other agent
answers, in the same run, budget and trace (the fake OpenAI server plays both models)."""

from __future__ import annotations

from agentroute import Agent, FixedTierPolicy, Model, Pipeline
from agentroute.events import HandoffEvent, ModelCallEvent, PathEvent, RunEnd
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import TextDelta
from tests.conftest import FAST_RETRY, run


def agents(server: FakeModelServer) -> list[Agent]:
    def model(name: str) -> Model:
        return Model.openai_compatible(server.url, name, price_in=1.0, price_out=2.0,
                                       retry=FAST_RETRY)  # fmt: skip

    return [
        Agent("triage", "first contact", models=[model("t")], handoffs=["billing"]),
        Agent("billing", "refunds and invoices", models=[model("b")], handoffs=["triage"]),
    ]


def test_a_model_hands_the_task_to_another_agent_which_answers_in_the_same_run(
    server: FakeModelServer,
) -> None:
    server.script(Reply("", tool_calls=(("transfer_to_billing", {"reason": "a refund"}),)),
                  model="t")  # fmt: skip
    server.script(Reply("Your refund of 49.90 is on its way."), model="b")
    pipeline = Pipeline(
        agents(server), router="first", policy=FixedTierPolicy("small"), budget_usd=0.01
    )
    result = pipeline.run("I was charged twice, I want my money back")
    assert result.output == "Your refund of 49.90 is on its way."
    (handoff,) = result.trace.events(HandoffEvent)
    assert (handoff.agent, handoff.to, handoff.reason) == ("triage", "billing", "a refund")
    first, second = (c.body for c in server.calls())
    assert [t["function"]["name"] for t in first["tools"]] == ["transfer_to_billing"]
    assert "tools" not in second  # no way back to triage: no ping-pong
    assert second["messages"][-1]["content"] == "I was charged twice, I want my money back"
    calls = result.trace.events(ModelCallEvent)
    assert [c.agent for c in calls] == ["triage", "billing"]
    assert result.cost_usd == sum(c.cost_usd for c in calls) > 0  # one budget for both
    assert result.trace.events(PathEvent)[-1].path[-2:] == ("billing@openai:b", "^done")
    assert result.trace.events(RunEnd)[0].status == "ok"
    assert pipeline.replay(result.trace).identical


def test_a_handoff_shows_in_the_stream_between_the_two_agents_text(
    server: FakeModelServer,
) -> None:
    server.script(Reply("Let me pass you on.",
                        tool_calls=(("transfer_to_billing", {"reason": "refund"}),)),
                  model="t")  # fmt: skip
    server.script(Reply("Refund approved."), model="b")
    pipeline = Pipeline(agents(server), router="first", policy=FixedTierPolicy("small"))

    async def go() -> list[object]:
        return [i async for i in pipeline.stream("refund please")]

    items = run(go())
    kinds = [("text", i.agent) if isinstance(i, TextDelta) else i.kind for i in items]  # type: ignore[attr-defined]
    at = kinds.index("handoff")
    assert ("text", "triage") in kinds[:at] and ("text", "billing") in kinds[at:]


def test_the_agent_handed_to_can_hand_on_to_its_own_handoffs(server: FakeModelServer) -> None:
    def model(name: str) -> Model:
        return Model.openai_compatible(server.url, name, retry=FAST_RETRY)

    desk = Agent("desk", "first contact", models=[model("d")], handoffs=["billing"])
    billing = Agent("billing", "refunds", models=[model("b")], handoffs=["legal", "desk"])
    legal = Agent("legal", "disputes", models=[model("l")])
    server.script(Reply("", tool_calls=(("transfer_to_billing", {}),)), model="d")
    server.script(Reply("", tool_calls=(("transfer_to_legal", {"reason": "a dispute"}),)),
                  model="b")  # fmt: skip
    server.script(Reply("Legal will call you."), model="l")
    pipeline = Pipeline([desk, billing, legal], router="first", policy=FixedTierPolicy("small"))
    result = pipeline.run("I dispute this charge")
    assert result.output == "Legal will call you."
    assert [(h.agent, h.to) for h in result.trace.events(HandoffEvent)] == [
        ("desk", "billing"), ("billing", "legal")]  # fmt: skip
    offered = [t["function"]["name"] for t in server.calls()[1].body["tools"]]
    assert offered == ["transfer_to_legal"]  # not back to the desk
