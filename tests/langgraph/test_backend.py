"""A `Pipeline` compiled into a LangGraph graph runs the same task the same way: the same
requests to the model server, the same answer, cost and budget, with checkpoints between."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agentroute import (
    Agent,
    Budget,
    BudgetExceededError,
    ConfigError,
    FixedTierPolicy,
    Pipeline,
    ReasoningRouter,
    tool,
)
from agentroute.runtime.langgraph_backend import DurablePipeline, step_key
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import fake_model, run

KEYS: list[str | None] = []


@tool
def lookup_order(order_id: str) -> dict[str, object]:
    """Look up an order's charges."""
    KEYS.append(step_key())
    return {"order_id": order_id, "charges": [49.9, 49.9]}


def _pipeline(server: FakeModelServer, budget_usd: float = 0.01) -> Pipeline:
    small = fake_model(server, "small")
    router = fake_model(server, "router")
    agents = [
        Agent("billing", "Refunds and invoices", tools=[lookup_order], models=[small]),
        Agent("shipping", "Parcels and deliveries", models=[small]),
    ]
    return Pipeline(agents, router=ReasoningRouter(max_agents=3), router_model=router,
                    policy=FixedTierPolicy("small"), budget_usd=budget_usd)  # fmt: skip


def _script(server: FakeModelServer) -> None:
    server.script(Reply("Reason: both\nAgents: billing, shipping"),
                  Reply("Refund issued; the parcel ships today."), model="router")  # fmt: skip
    server.responder = lambda body: (
        Reply("A refund for the second charge.")
        if "Refunds" in body["messages"][0]["content"] and body["messages"][-1]["role"] == "tool"
        else Reply("", tool_calls=(("lookup_order", {"order_id": "1234"}),))
        if "Refunds" in body["messages"][0]["content"]
        else Reply("The parcel ships today.")
    )


def test_same_requests_answer_and_cost_as_the_plain_pipeline(server: FakeModelServer) -> None:
    task = "Charged twice for order 1234 and my parcel is late"
    _script(server)
    plain = _pipeline(server).run(task)
    plain_bodies = sorted(json.dumps(c.body, sort_keys=True) for c in server.calls())
    server.reset()
    _script(server)
    KEYS.clear()
    durable = DurablePipeline(_pipeline(server), checkpointer=InMemorySaver())
    result = run(durable.arun(task, thread_id="t1"))
    bodies = sorted(json.dumps(c.body, sort_keys=True) for c in server.calls())
    assert bodies == plain_bodies  # the same calls, parallel agents in any order
    assert result.output == plain.output == "Refund issued; the parcel ships today."
    assert result.agents == plain.agents == ("billing", "shipping")
    assert result.model_calls == plain.model_calls == 5
    assert result.cost_usd == pytest.approx(plain.cost_usd)
    assert KEYS == ["t1:billing:3"]
    kinds = [e.kind for e in result.trace]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert kinds.count("model_call") == 5 and kinds.count("tool_call") == 1
    assert "resume" not in kinds
    state = run(durable.graph.aget_state({"configurable": {"thread_id": "t1"}}))
    assert state.next == () and state.values["output"] == result.output


def test_a_finished_thread_resumes_to_its_result_without_calls(server: FakeModelServer) -> None:
    _script(server)
    durable = DurablePipeline(_pipeline(server), checkpointer=InMemorySaver())
    first = run(durable.arun("Charged twice, parcel late", thread_id="t"))
    before = len(server.calls())
    again = run(durable.aresume("t"))
    assert len(server.calls()) == before
    assert (again.output, again.model_calls, again.cost_usd) == (
        first.output, first.model_calls, first.cost_usd)  # fmt: skip


def test_thread_misuse_is_a_config_error(server: FakeModelServer) -> None:
    _script(server)
    durable = DurablePipeline(_pipeline(server), checkpointer=InMemorySaver())
    with pytest.raises(ConfigError, match="no checkpoint"):
        run(durable.aresume("nobody"))
    run(durable.arun("Charged twice, parcel late", thread_id="t"))
    with pytest.raises(ConfigError, match="already has a run"):
        run(durable.arun("again", thread_id="t"))
    with pytest.raises(ConfigError, match="durability"):
        DurablePipeline(_pipeline(server), durability="never")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="checkpointer"):
        run(DurablePipeline(_pipeline(server)).aresume("t"))


def test_budget_holds_and_a_failed_run_resumes_from_its_checkpoint(
    server: FakeModelServer,
) -> None:
    _script(server)
    # three calls: the route and each agent's first; billing's second (after its tool) is over
    pipeline = _pipeline(server)
    pipeline.budget = Budget(usd=0.01, calls=3)
    durable = DurablePipeline(pipeline, checkpointer=InMemorySaver())
    with pytest.raises(BudgetExceededError) as caught:
        run(durable.arun("Charged twice, parcel late", thread_id="b"))
    trace = caught.value.trace  # type: ignore[attr-defined]
    assert trace.of_kind("run_end")[0].status == "error"
    assert len(trace.of_kind("model_call")) == 3
    snapshot = run(durable.graph.aget_state({"configurable": {"thread_id": "b"}}))
    assert snapshot.values["chosen"] == ["billing", "shipping"]  # the route step was kept
    calls = len(server.calls())
    with pytest.raises(BudgetExceededError) as again:
        run(durable.aresume("b"))
    assert len(server.calls()) == calls  # no route call again, and nothing unaffordable sent
    assert again.value.trace.of_kind("resume")  # type: ignore[attr-defined]


def test_a_thread_holds_a_conversation_that_goes_on_after_a_restart(
    server: FakeModelServer, tmp_path: Path
) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    for route in ("Agents: billing", "Agents: shipping"):
        server.script(Reply(route), model="router")
    server.script(Reply("Order 12 was refunded."), Reply("Order 13 ships tomorrow."),
                  model="small")  # fmt: skip
    db = str(tmp_path / "threads.db")

    async def turn(text: str) -> str:  # each turn in a fresh backend, as after a restart
        async with AsyncSqliteSaver.from_conn_string(db) as saver:
            durable = DurablePipeline(_pipeline(server), checkpointer=saver)
            try:
                return (await durable.aask(text, thread_id="customer-9")).output
            finally:
                await durable.pipeline.aclose()

    assert run(turn("Was order 12 refunded?")) == "Order 12 was refunded."
    assert run(turn("And order 13?")) == "Order 13 ships tomorrow."
    sent = [(m["role"], m["content"]) for m in server.calls()[-1].body["messages"]]
    assert sent[-3:] == [("user", "Was order 12 refunded?"),
                         ("assistant", "Order 12 was refunded."),
                         ("user", "And order 13?")]  # fmt: skip
    routed = server.calls()[-2].body["messages"][-1]["content"]  # the router saw turn one
    assert "Conversation so far" in routed and "Was order 12 refunded?" in routed
