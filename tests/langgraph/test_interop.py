"""agentroute routers inside a user's own LangGraph graph, and a LangGraph graph as one
agentroute agent."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, MessagesState, StateGraph

from agentroute import Agent, ConfigError, Pipeline, ReasoningRouter, RunError
from agentroute.errors import RoutingError
from agentroute.routers import Candidate
from agentroute.runtime.langgraph_interop import graph_agent, route_edge, route_node
from agentroute.testing import FakeModelServer, Reply
from agentroute.trace import MemorySink
from agentroute.types import Completer, RouteDecision
from tests.conftest import fake_model, run

AGENTS = [
    Agent("billing", "Refunds, invoices, double charges", runner=None, models=()),
    Agent("shipping", "Late or lost parcels", runner=None, models=()),
]


class Desk(TypedDict, total=False):
    query: str
    handled: Annotated[list[str], operator.add]
    route: dict[str, Any]


def _desk(edge: Any) -> Any:
    g: StateGraph[Desk] = StateGraph(Desk)
    g.add_node("triage", lambda s: {})
    for name in ("billing", "shipping", "human"):
        g.add_node(name, lambda s, name=name: {"handled": [name]})
        g.add_edge(name, END)
    g.add_edge(START, "triage")
    g.add_conditional_edges("triage", edge, ["billing", "shipping", "human"])
    return g.compile()


def test_reasoning_router_as_a_conditional_edge(server: FakeModelServer) -> None:
    server.script(Reply("Reason: parcel\nAgents: shipping"),
                  Reply("Reason: both\nAgents: billing, shipping"), model="router")  # fmt: skip
    sink = MemorySink()
    edge = route_edge(ReasoningRouter(max_agents=2), AGENTS, query="query",
                      model=fake_model(server, "router"), sinks=[sink])  # fmt: skip
    graph = _desk(edge)
    assert run(graph.ainvoke({"query": "Where is my parcel?"}))["handled"] == ["shipping"]
    both = run(graph.ainvoke({"query": "Charged twice and the parcel is late"}))["handled"]
    assert sorted(both) == ["billing", "shipping"]  # run in parallel by LangGraph
    kinds = [r["kind"] for r in sink.records if r["kind"] in ("model_call", "route")]
    assert kinds == ["model_call", "route", "model_call", "route"]
    assert [r["chosen"] for r in sink.records if r["kind"] == "route"] == [
        ["shipping"], ["billing", "shipping"]]  # fmt: skip
    assert "Where is my parcel?" in server.calls()[0].body["messages"][-1]["content"]


class Nobody:
    name = "nobody"

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        return RouteDecision(router=self.name, chosen=(), reason="out of scope")


def test_no_fit_goes_to_the_fallback_or_raises() -> None:
    assert run(_desk(route_edge(Nobody(), AGENTS, query="query", fallback="human"))
               .ainvoke({"query": "hi"}))["handled"] == ["human"]  # fmt: skip
    with pytest.raises(RoutingError, match="out of scope"):
        run(_desk(route_edge(Nobody(), AGENTS, query="query")).ainvoke({"query": "hi"}))


def test_route_node_writes_the_decision_into_the_state(server: FakeModelServer) -> None:
    server.script(Reply("Reason: refund\nAgents: billing"), model="router")
    g: StateGraph[Desk] = StateGraph(Desk)
    g.add_node("decide", route_node(ReasoningRouter(), AGENTS, query="query",
                                    model=fake_model(server, "router")))  # fmt: skip
    g.add_edge(START, "decide")
    g.add_edge("decide", END)
    out = run(g.compile().ainvoke({"query": "refund please"}))
    assert out["route"]["chosen"] == ["billing"] and out["route"]["reason"] == "refund"


def test_bad_routing_declarations_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        route_edge(object(), AGENTS)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        route_edge(Nobody(), [])
    with pytest.raises(ConfigError, match="compile"):
        graph_agent("g", "a graph", StateGraph(MessagesState))


def _echo_graph(calls: list[str]) -> Any:
    def answer(state: MessagesState) -> dict[str, Any]:
        calls.append(state["messages"][-1].content)
        return {"messages": [("ai", f"graph answer to: {state['messages'][-1].content}")]}

    g = StateGraph(MessagesState)
    g.add_node("answer", answer)
    g.add_edge(START, "answer")
    g.add_edge("answer", END)
    return g.compile()


def test_a_compiled_graph_is_an_agent_that_replays_without_running(
    server: FakeModelServer,
) -> None:
    calls: list[str] = []
    researcher = graph_agent("research", "Looks things up in the archive", _echo_graph(calls))
    writer = Agent("writer", "Writes poems", models=[fake_model(server, "small")])
    server.script(Reply("Reason: lookup\nAgents: research"), model="router")
    pipeline = Pipeline([researcher, writer], router=ReasoningRouter(),
                        router_model=fake_model(server, "router"))  # fmt: skip
    result = pipeline.run("When was the lighthouse built?")
    assert result.output == "graph answer to: When was the lighthouse built?"
    assert calls == ["When was the lighthouse built?"]
    program = result.trace.of_kind("agent_run")
    assert len(program) == 1 and program[0].ok and program[0].agent == "research"  # type: ignore[union-attr]
    sent = len(server.calls())
    report = pipeline.replay(result.trace)
    assert report.identical, report.describe()
    assert len(calls) == 1 and len(server.calls()) == sent  # neither graph nor model ran


def test_a_failing_graph_agent_is_traced_and_raises(server: FakeModelServer) -> None:
    def broken(state: MessagesState) -> dict[str, Any]:
        raise ValueError("archive offline")

    g = StateGraph(MessagesState)
    g.add_node("answer", broken)
    g.add_edge(START, "answer")
    agent = graph_agent("research", "Looks things up", g.compile())
    pipeline = Pipeline([agent], router_model=fake_model(server, "router"))
    with pytest.raises(RunError, match="archive offline") as caught:
        pipeline.run("anything")
    failed = caught.value.trace.of_kind("agent_run")  # type: ignore[attr-defined]
    assert not failed[0].ok and "ValueError" in failed[0].error
    with pytest.raises(ConfigError, match="own models"):
        Agent("x", "y", runner=lambda t: None, models=[fake_model(server)])  # type: ignore[arg-type,return-value]
