"""End-to-end runs against the fake server: routing, tools, switching, refining."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentroute import (
    Agent,
    ConfigError,
    EntropyPolicy,
    FixedTierPolicy,
    Pipeline,
    ReasoningRouter,
    RunError,
    tool,
)
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import fake_model, run


def _agents(server: FakeModelServer) -> list[Agent]:
    small = fake_model(server, "small", tier="small")
    large = fake_model(server, "large", tier="large", price_in=5, price_out=15)
    return [
        Agent("billing", "Refunds and invoices", models=[small, large]),
        Agent("shipping", "Parcels and deliveries", models=[small, large]),
    ]


def test_single_agent_run_returns_output_usage_cost_and_trace(server: FakeModelServer) -> None:
    server.script(Reply("the answer", usage=(100, 20)))
    agent = Agent("solo", "does it", models=[fake_model(server)])
    result = Pipeline([agent]).run("question?")
    assert result.output == "the answer"
    assert result.agents == ("solo",)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (100, 20)
    assert result.cost_usd == pytest.approx((100 * 1.0 + 20 * 2.0) / 1e6)
    kinds = [e.kind for e in result.trace]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("model_call") == 1 == result.model_calls
    assert [e.seq for e in result.trace] == list(range(len(result.trace)))


def test_async_entry_point(server: FakeModelServer) -> None:
    agent = Agent("solo", "does it", models=[fake_model(server)])
    result = run(Pipeline([agent]).arun("q"))
    assert result.output == "ok"


def test_sync_run_inside_event_loop_is_refused(server: FakeModelServer) -> None:
    pipeline = Pipeline([Agent("solo", "does it", models=[fake_model(server)])])

    async def inside() -> None:
        pipeline.run("q")

    with pytest.raises(RunError, match="arun"):
        asyncio.run(inside())


def test_empty_task_rejected(server: FakeModelServer) -> None:
    pipeline = Pipeline([Agent("solo", "does it", models=[fake_model(server)])])
    with pytest.raises(ConfigError):
        pipeline.run("   ")


def test_reasoning_router_routes_and_traces(server: FakeModelServer) -> None:
    server.script(
        Reply("Reason: a parcel question\nAgents: [2] shipping"),
        Reply("It is on its way."),
        model="small",
    )
    pipeline = Pipeline(_agents(server), router="reasoning", policy=FixedTierPolicy("small"))
    result = pipeline.run("Where is my parcel?")
    assert result.agents == ("shipping",)
    assert result.output == "It is on its way."
    [route] = result.trace.of_kind("route")
    assert route.chosen == ("shipping",) and route.fallback is False  # type: ignore[union-attr]
    assert route.reason == "a parcel question"  # type: ignore[union-attr]
    catalog = server.calls()[0].body["messages"][1]["content"]
    assert "[1] billing: Refunds and invoices" in catalog
    assert "[2] shipping: Parcels and deliveries" in catalog


def test_malformed_router_output_falls_back_visibly(server: FakeModelServer) -> None:
    server.script(Reply("I think the weather is nice"), Reply("answer"), model="small")
    pipeline = Pipeline(
        _agents(server), router=ReasoningRouter(default="shipping"), policy=FixedTierPolicy("small")
    )
    result = pipeline.run("???")
    [route] = result.trace.of_kind("route")
    assert route.fallback is True and route.chosen == ("shipping",)  # type: ignore[union-attr]
    assert "fell back" in route.reason  # type: ignore[union-attr]


def test_ids_outside_catalog_are_rejected() -> None:
    from agentroute.routers import Candidate

    r = ReasoningRouter(max_agents=3)
    cands = [Candidate("billing", "b"), Candidate("shipping", "s")]
    chosen, _, rejected, _ = r.parse(
        "Reason: x\nAgents: legal, 7, [1] shipping, [2] shiping", cands
    )
    assert chosen == ("shipping",)  # a valid name beats a miscounted id
    assert rejected == ["legal", "7", "[2] shiping"]


def test_two_agents_run_in_parallel_then_refine(server: FakeModelServer) -> None:
    server.script(Reply("Reason: both\nAgents: billing, shipping"), model="small")
    server.script(Reply("refund: yes"), Reply("parcel: late"), model="small")
    server.script(Reply("Merged: refund yes, parcel late."), model="small")
    pipeline = Pipeline(
        _agents(server), router=ReasoningRouter(max_agents=2), policy=FixedTierPolicy("small")
    )
    result = pipeline.run("Refund my late parcel")
    assert result.agents == ("billing", "shipping")
    assert result.output == "Merged: refund yes, parcel late."
    refine_prompt = server.calls()[-1].body["messages"][1]["content"]
    assert "[billing]" in refine_prompt and "[shipping]" in refine_prompt
    assert result.model_calls == 4


def test_tool_calls_run_and_feed_back(server: FakeModelServer) -> None:
    seen: list[str] = []

    @tool
    def lookup_order(order_id: str) -> dict[str, object]:
        """Look up an order."""
        seen.append(order_id)
        return {"order_id": order_id, "charges": 2}

    agent = Agent("billing", "refunds", tools=[lookup_order], models=[fake_model(server)])
    server.script(
        Reply("", tool_calls=(("lookup_order", {"order_id": "1234"}),)),
        Reply("You were charged twice."),
    )
    result = Pipeline([agent]).run("charged twice for 1234")
    assert seen == ["1234"]
    assert result.output == "You were charged twice."
    [tc] = result.trace.of_kind("tool_call")
    assert tc.ok and tc.arguments == {"order_id": "1234"}  # type: ignore[union-attr]
    second = server.calls()[1].body["messages"]
    assert second[-1]["role"] == "tool"
    assert json.loads(second[-1]["content"]) == {"order_id": "1234", "charges": 2}
    assert server.calls()[0].body["tools"][0]["function"]["name"] == "lookup_order"


def test_unknown_tool_is_reported_not_skipped(server: FakeModelServer) -> None:
    agent = Agent("a", "x", models=[fake_model(server)])
    server.script(Reply("", tool_calls=(("nope", {}),)), Reply("fine"))
    result = Pipeline([agent]).run("q")
    [tc] = result.trace.of_kind("tool_call")
    assert tc.ok is False and "no tool" in (tc.error or "")  # type: ignore[union-attr]


HIGH = (("The", -1.6, (("The", -1.6), ("It", -1.7), ("A", -1.8), ("To", -1.9))),)
LOW = (("42", -0.01, (("42", -0.01), ("41", -5.0))),)


@pytest.mark.parametrize(("probe", "writer"), [(HIGH, "large"), (LOW, "small")])
def test_entropy_policy_probe_picks_the_writer(server: FakeModelServer, probe, writer) -> None:  # type: ignore[no-untyped-def]
    server.script(Reply("T", logprobs=probe), model="small")
    server.script(Reply(f"answer from {writer}"), model=writer)
    agent = _agents(server)[0]
    result = Pipeline([agent], policy=EntropyPolicy(threshold=1.0)).run("q")
    assert result.output == f"answer from {writer}"
    probe_req = server.calls()[0].body
    assert probe_req["max_tokens"] == 1 and probe_req["logprobs"] is True
    assert probe_req["top_logprobs"] == 10
    [switch] = result.trace.of_kind("model_switch")
    assert switch.to_model == f"openai:{writer}"  # type: ignore[union-attr]
    assert "first_token_entropy" in switch.signals  # type: ignore[union-attr]


def test_failed_attempts_are_all_in_the_trace(server: FakeModelServer) -> None:
    from agentroute.testing import Fail

    server.script(Fail(500), Fail(429, retry_after=0.01), Reply("finally"))
    result = Pipeline([Agent("a", "x", models=[fake_model(server)])]).run("q")
    calls = result.trace.of_kind("model_call")
    assert [(c.attempt, c.ok) for c in calls] == [(1, False), (2, False), (3, True)]  # type: ignore[union-attr]
    assert len(result.trace.of_kind("retry")) == 2
    assert len(result.trace.of_kind("budget_reserve")) == 3


def test_events_form_a_tree(server: FakeModelServer) -> None:
    server.script(Reply("Reason: both\nAgents: billing, shipping"), model="small")
    server.script(Reply("a"), Reply("b"), Reply("merged"), model="small")
    result = Pipeline(
        _agents(server), router=ReasoningRouter(max_agents=2), policy=FixedTierPolicy("small")
    ).run("q")
    events = list(result.trace)
    start = events[0]
    [route] = result.trace.of_kind("route")
    assert route.parent == start.seq
    router_call = next(e for e in events if e.kind == "model_call")
    assert router_call.parent == start.seq  # type: ignore[union-attr]
    agent_events = [e for e in events if e.agent in ("billing", "shipping")]
    assert agent_events and all(e.parent == route.seq for e in agent_events)
    by_seq = {e.seq: e for e in events}
    for e in events:  # every parent exists and comes first: a tree rooted at run_start
        if e.parent is not None:
            assert e.parent in by_seq and e.parent < e.seq


def test_a_failing_branch_cancels_its_sibling(server: FakeModelServer) -> None:
    import time

    from agentroute.errors import BadRequestError
    from agentroute.testing import Fail, Hang

    billing = Agent("billing", "Refunds and invoices", models=[fake_model(server, "b")])
    shipping = Agent("shipping", "Parcels", models=[fake_model(server, "s")])
    server.script(Reply("Reason: both\nAgents: billing, shipping"), model="b")
    server.script(Fail(400), model="b")
    server.script(Hang(5.0), model="s")
    started = time.monotonic()
    with pytest.raises(BadRequestError) as info:
        Pipeline(
            [billing, shipping],
            router=ReasoningRouter(max_agents=2),
            policy=FixedTierPolicy("small"),
        ).run("q")
    assert time.monotonic() - started < 2.5  # the hanging sibling did not hold the task
    calls = [e for e in info.value.trace if e.kind == "model_call"]  # type: ignore[attr-defined]
    assert any(e.model == "openai:s" and e.error_type == "CancelledError" for e in calls)
