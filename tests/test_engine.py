"""The one engine: model endpoints heal like tools (failover to the agent's next model, its
declared fallbacks, then a handoff agent, with no LLM call), monitors see model and tool
outcomes, agents are nodes of hand-built graphs, the decision step is pure, and the run's
state survives a checkpoint."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from agentroute import Agent, Budget, ConfigError, FixedTierPolicy, Pipeline, tool
from agentroute.engine import RunState, from_agents
from agentroute.engine.decide import Choose, decide
from agentroute.graph import TaskGraph
from agentroute.health import CircuitBreakerMonitor
from agentroute.routers import ReasoningRouter
from agentroute.runtime import GraphRunner, NodeContext
from agentroute.testing import Fail, FakeModelServer, Reply
from tests.conftest import fake_model


def _failing(server: FakeModelServer, name: str) -> None:
    server.script(*(Fail(503) for _ in range(3)), model=name)


def test_a_failing_model_fails_over_to_the_agents_next_model(server: FakeModelServer) -> None:
    _failing(server, "a")
    server.script(Reply("from b"), model="b")
    agent = Agent("solo", "does it", models=[fake_model(server, "a"),
                                             fake_model(server, "b", tier="large")])  # fmt: skip
    result = Pipeline([agent], policy=FixedTierPolicy("small")).run("q")
    assert result.output == "from b"
    t = result.trace
    [reroute] = t.of_kind("reroute")
    assert reroute.failed == "solo@openai:a"  # type: ignore[union-attr]
    assert reroute.new_path[-2:] == ("solo@openai:b", "^done")  # type: ignore[union-attr]
    [failover] = [e for e in t.of_kind("model_switch") if e.policy == "failover"]  # type: ignore[union-attr]
    assert (failover.from_model, failover.to_model) == ("openai:a", "openai:b")  # type: ignore[union-attr]
    calls = t.of_kind("model_call")
    assert [(c.model, c.ok) for c in calls] == [("openai:a", False)] * 3 + [("openai:b", True)]  # type: ignore[union-attr]
    assert [e.kind for e in t].count("escalation") == 0


def test_declared_fallbacks_are_tried_in_order(server: FakeModelServer) -> None:
    _failing(server, "a")
    _failing(server, "c")
    server.script(Reply("from d"), model="d")
    a, b = fake_model(server, "a"), fake_model(server, "b", tier="large")
    c, d = fake_model(server, "c", price_in=9), fake_model(server, "d", price_in=0.1)
    agent = Agent("solo", "does it", models=[a, b], fallbacks=[c, d])
    result = Pipeline([agent], policy=FixedTierPolicy("small")).run("q")
    assert result.output == "from d"
    order = [c.model for c in result.trace.of_kind("model_call")]  # type: ignore[union-attr]
    assert order == ["openai:a"] * 3 + ["openai:c"] * 3 + ["openai:d"]
    assert not [x for x in server.calls() if x.body["model"] == "b"]


def test_an_agent_with_nothing_left_hands_off(server: FakeModelServer) -> None:
    _failing(server, "a")
    server.script(Reply("Reason: money\nAgents: billing"), model="router")
    server.script(Reply("handled by support"), model="s")
    billing = Agent("billing", "Refunds", models=[fake_model(server, "a")], handoffs=["support"])
    support = Agent("support", "Anything else", models=[fake_model(server, "s")])
    result = Pipeline([billing, support], router=ReasoningRouter(),
                      router_model=fake_model(server, "router"),
                      policy=FixedTierPolicy("small")).run("refund please")  # fmt: skip
    assert result.output == "handled by support" and result.agents == ("support",)
    [reroute] = result.trace.of_kind("reroute")
    assert reroute.failed == "billing@openai:a"  # type: ignore[union-attr]
    assert "support" in reroute.new_path  # type: ignore[union-attr]


def test_without_a_handoff_the_last_failure_is_raised_with_an_escalation(
    server: FakeModelServer,
) -> None:
    _failing(server, "a")
    agent = Agent("solo", "does it", models=[fake_model(server, "a")])
    from agentroute.errors import ServerError

    with pytest.raises(ServerError) as info:
        Pipeline([agent], policy=FixedTierPolicy("small")).run("q")
    kinds = [e.kind for e in info.value.trace]  # type: ignore[attr-defined]
    assert "escalation" in kinds and kinds[-1] == "run_end"


def test_the_breaker_sees_model_calls_and_the_next_run_avoids_the_endpoint(
    server: FakeModelServer,
) -> None:
    _failing(server, "a")
    server.responder = lambda body: Reply(f"from {body['model']}")
    breaker = CircuitBreakerMonitor(failure_threshold=1, cooldown_s=1e9)
    agent = Agent("solo", "does it", models=[fake_model(server, "a"),
                                             fake_model(server, "b", tier="large")])  # fmt: skip
    pipeline = Pipeline([agent], policy=FixedTierPolicy("small"), monitors=[breaker])
    assert pipeline.run("q").output == "from b"
    assert breaker.state("openai:a").value == "open"
    sent = len(server.calls())
    second = pipeline.run("q again")
    assert second.output == "from b"
    assert [x.body["model"] for x in server.calls()[sent:]] == ["b"]  # a was not tried
    [signal] = [e for e in second.trace.of_kind("health_signal")]
    assert signal.target == "openai:a" and signal.down  # type: ignore[union-attr]


def test_a_tool_that_is_down_is_no_longer_offered(server: FakeModelServer) -> None:
    @tool
    def primary(order_id: str) -> str:
        """Look up an order (primary)."""
        raise ConnectionError("503")

    @tool
    def mirror(order_id: str) -> str:
        """Look up an order (mirror)."""
        return "two charges"

    server.script(
        Reply("", tool_calls=(("primary", {"order_id": "1"}),)),
        Reply("", tool_calls=(("mirror", {"order_id": "1"}),)),
        Reply("done"),
    )
    agent = Agent("a", "x", tools=[primary, mirror], models=[fake_model(server)])
    result = Pipeline([agent], monitors=[CircuitBreakerMonitor(failure_threshold=1)]).run("q")
    assert result.output == "done"
    offered = [[t["function"]["name"] for t in c.body.get("tools", [])] for c in server.calls()]
    assert offered == [["primary", "mirror"], ["mirror"], ["mirror"]]
    assert [e.ok for e in result.trace.of_kind("tool_call")] == [False, True]  # type: ignore[union-attr]
    rw = [c for e in result.trace.of_kind("reweight") for c in e.changes]  # type: ignore[union-attr]
    assert ("a@openai:m", "primary", 0.0, float("inf")) in rw


def test_an_agent_node_in_a_graph_shares_the_runs_trace_and_budget(
    server: FakeModelServer,
) -> None:
    server.script(Reply("Trip booked: TP 1351 and Casa do Rio.", usage=(50, 10)))
    g = TaskGraph([("start", "search", 1), ("search", "writer", 1)], start="start", goal="writer")
    writer = Agent("writer", "Writes itineraries", models=[fake_model(server)])
    handlers: dict[str, Any] = {"search": lambda ctx: {"flight": "TP 1351"}, "writer": writer}
    runner = GraphRunner(g, handlers, policy=FixedTierPolicy("small"), budget=Budget(usd=0.01))
    result = runner.run("Lisbon")
    assert result.status == "completed"
    assert result.results["writer"].startswith("Trip booked")
    assert result.cost_usd == pytest.approx((50 * 1.0 + 10 * 2.0) / 1e6)
    [end] = result.trace.of_kind("run_end")
    assert end.cost_usd == result.cost_usd and end.model_calls == 1  # type: ignore[union-attr]
    prompt = server.calls()[0].body["messages"][1]["content"]
    assert "TP 1351" in prompt  # the agent reads the results so far


def test_a_router_node_picks_the_agent_in_a_graph(server: FakeModelServer) -> None:
    server.script(Reply("Reason: a parcel\nAgents: shipping"), model="router")
    server.script(Reply("ships today"), model="m")
    g = TaskGraph([("start", "triage", 0), ("triage", "billing", 1), ("triage", "shipping", 1),
                   ("billing", "reply", 1), ("shipping", "reply", 1)],
                  start="start", goal="reply")  # fmt: skip
    agents: dict[str, Any] = {
        n: Agent(n, d, models=[fake_model(server)])
        for n, d in (("billing", "Refunds"), ("shipping", "Parcels"))
    }
    result = GraphRunner(
        g, {**agents, "reply": lambda ctx: ctx.results["shipping"]},
        routers={"triage": ReasoningRouter()}, router_model=fake_model(server, "router"),
        policy=FixedTierPolicy("small"),
    ).run("where is my parcel")  # fmt: skip
    assert result.results["reply"] == "ships today"
    assert "billing" not in result.path
    with pytest.raises(ConfigError, match="route node"):
        GraphRunner(
            g,
            {**agents, "reply": lambda ctx: 1},
            routers={"triage": ReasoningRouter(), "reply": ReasoningRouter()},
            router_model=fake_model(server, "router"),
        )  # fmt: skip


def test_decide_is_pure() -> None:
    from agentroute import Model

    agents = [Agent("a", "x", models=[Model.function("m")]), Agent("b", "y")]
    graph = from_agents(agents)
    from agentroute.engine import Lane

    state = RunState("t", {"main": Lane(at="^start", goal="^done")})
    weights = {(u, v): c for u, v, c in graph.graph.edges}
    plan = None
    from agentroute.graph import GoalTree

    plan = GoalTree(graph.graph, "^done", weights).path("^start")
    before = copy.deepcopy(state)
    first = decide(state.main, state, graph, weights, plan)
    assert first == decide(state.main, state, graph, weights, plan) == Choose("^route")
    assert state.dump() == before.dump()


def test_run_state_survives_a_checkpoint(server: FakeModelServer) -> None:
    server.script(Reply("Reason: both\nAgents: billing, shipping"), model="router")
    agents = [Agent("billing", "Refunds", models=[fake_model(server)]),
              Agent("shipping", "Parcels", models=[fake_model(server)])]  # fmt: skip
    pipeline = Pipeline(agents, router=ReasoningRouter(max_agents=2),
                        router_model=fake_model(server, "router"))  # fmt: skip
    state = pipeline.engine.open("q").state
    data = state.dump()
    assert RunState.load(json.loads(json.dumps(data))).dump() == data


def test_agents_and_tools_must_not_share_a_name(server: FakeModelServer) -> None:
    @tool
    def billing(x: str) -> str:
        """Clashes with the agent."""
        return x

    with pytest.raises(ConfigError, match="share names"):
        Pipeline([Agent("billing", "x", tools=[billing], models=[fake_model(server)])])
    with pytest.raises(ConfigError, match="hands off to itself"):
        Agent("a", "x", handoffs=["a"])
    with pytest.raises(ConfigError, match="fallbacks but no models"):
        Agent("a", "x", fallbacks=[fake_model(server)])


def test_handler_context_names_the_node_the_task_came_from() -> None:
    seen: list[Any] = []
    g = TaskGraph([("s", "a", 1), ("a", "b", 1)], start="s", goal="b")

    def b(ctx: NodeContext) -> str:
        seen.append((ctx.previous, ctx.results[ctx.previous or ""]))
        return "done"

    GraphRunner(g, {"a": lambda ctx: "from a", "b": b}).run("t")
    assert seen == [("a", "from a")]


def test_same_model_name_on_two_gateways_needs_two_labels_and_keeps_its_own_endpoint() -> None:
    with FakeModelServer() as one, FakeModelServer() as two:
        one.script(Reply("from gateway one"))
        two.script(Reply("from gateway two"))
        a = fake_model(one, "gpt-4o", api_key="key-one-0000000")
        b = fake_model(two, "gpt-4o", api_key="key-two-0000000")
        agents = [Agent("first", "x", models=[a]), Agent("second", "y", models=[b])]
        with pytest.raises(ConfigError, match="alias"):
            Pipeline(agents)
        b = b.model_copy(update={"alias": "gateway-two:gpt-4o"})
        result = Pipeline(
            [Agent("second", "y", models=[b]), Agent("first", "x", models=[a])],
            router="first",
        ).run("q")
        assert result.output == "from gateway two" and result.models == ("gateway-two:gpt-4o",)
        assert len(two.calls()) == 1 and one.calls() == []
        assert two.calls()[0].headers["authorization"] == "Bearer key-two-0000000"


def test_a_branch_with_nothing_left_hands_off_to_a_sibling_that_answers_anyway(
    server: FakeModelServer,
) -> None:
    _failing(server, "a")
    server.script(Reply("Reason: both\nAgents: billing, shipping"), model="router")
    server.script(Reply("shipping answers"), model="s")
    billing = Agent("billing", "Refunds", models=[fake_model(server, "a")], handoffs=["shipping"])
    shipping = Agent("shipping", "Parcels", models=[fake_model(server, "s")])
    result = Pipeline(
        [billing, shipping],
        router=ReasoningRouter(max_agents=2),
        router_model=fake_model(server, "router"),
        policy=FixedTierPolicy("small"),
    ).run("refund my late parcel")
    assert result.output == "shipping answers" and result.agents == ("shipping",)
    assert len([c for c in server.calls() if c.body["model"] == "s"]) == 1  # not run twice
    [handoff] = [e for e in result.trace.of_kind("reroute") if e.new_path == ("shipping",)]  # type: ignore[union-attr]
    assert handoff.failed == "billing@openai:a" and handoff.agent == "billing"  # type: ignore[union-attr]


def test_after_an_agent_node_previous_names_the_agent(server: FakeModelServer) -> None:
    server.script(Reply("drafted"))
    seen: list[Any] = []
    g = TaskGraph([("s", "writer", 1), ("writer", "send", 1)], start="s", goal="send")

    def send(ctx: NodeContext) -> str:
        seen.append((ctx.previous, ctx.results[ctx.previous or ""]))
        return "sent"

    writer = Agent("writer", "Writes", models=[fake_model(server)])
    GraphRunner(g, {"writer": writer, "send": send}, policy=FixedTierPolicy("small")).run("t")
    assert seen == [("writer", "drafted")]


def test_a_checkpointed_state_keeps_the_failure_and_the_health_history(
    server: FakeModelServer,
) -> None:
    from agentroute.errors import ServerError

    _failing(server, "a")
    server.script(Reply("from b"), model="b")
    agent = Agent("solo", "does it", models=[fake_model(server, "a"),
                                             fake_model(server, "b", tier="large")])  # fmt: skip
    pipeline = Pipeline([agent], policy=FixedTierPolicy("small"))

    async def two_units() -> dict[str, Any]:
        session = pipeline.engine.open("q")
        lane = session.state.main
        while lane.last_failed is None:
            await session.unit(lane)
        data = session.snapshot()
        session.end(None)
        await session.aclose()
        return data

    import asyncio

    data = json.loads(json.dumps(asyncio.run(two_units())))
    state = RunState.load(data)
    assert state.main.last_failed == "solo@openai:a"
    assert isinstance(state.main.last_error, ServerError)
    assert [o.ok for o in state.outcomes] == [False, False, False] and state.failed_attempts == 3
