"""The preference router (Arch-Router's routes as policies) on a real fake server: the model
reads the routes and the conversation, is held to the route names or "other", and its answer
goes to the route's agent; a conversation's change of intent reaches it."""

from __future__ import annotations

import json

import pytest

from agentroute import Agent, FixedTierPolicy, Pipeline
from agentroute.errors import ConfigError, RoutingError
from agentroute.routers import PreferenceRouter, Route, SemanticRouter
from agentroute.runtime import Conversation
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import NEW_MESSAGE, RouteDecision, new_message, routing_text
from tests.conftest import fake_model, run
from tests.routers.helpers import AGENTS, reasoning_complete, toy_embed

ROUTES = (
    Route("billing / refund", "asks for money back for a charge or an order", "billing"),
    Route("billing / invoice", "wants an invoice or a receipt", "billing"),
    Route(
        "delivery / track",
        "asks where a parcel is or when it arrives",
        "shipping",
        examples=("when will the courier come?",),
    ),
    Route("legal / summarise", "wants a contract or terms summarised", "lawyer"),  # no agent
)


def said(route: str) -> Reply:
    return Reply(json.dumps({"route": route}))


def test_the_named_route_goes_to_its_agent_and_the_answer_is_held_to_route_names(
    server: FakeModelServer,
) -> None:
    server.script(said("delivery / track"))
    router = PreferenceRouter(ROUTES)
    decision = run(router.route("where is my parcel?", AGENTS, reasoning_complete(server)))
    assert decision.chosen == ("shipping",) and "delivery / track" in decision.reason
    body = server.calls()[0].body
    enum = body["response_format"]["json_schema"]["schema"]["properties"]["route"]["enum"]
    assert enum == ["billing / refund", "billing / invoice", "delivery / track", "other"]
    shown = body["messages"][1]["content"]
    assert "legal / summarise" not in shown  # its agent is absent
    assert '"when will the courier come?"' in shown and "- other:" in shown


def test_other_is_no_agent_or_the_default(server: FakeModelServer) -> None:
    server.script(said("other"), said("other"), Reply("billing, I think"))
    complete = reasoning_complete(server)

    async def three() -> list:  # type: ignore[type-arg]
        return [
            await PreferenceRouter(ROUTES).route("boil an egg", AGENTS, complete),
            await PreferenceRouter(ROUTES, default="security").route("boil an egg", AGENTS,
                                                                      complete),
            await PreferenceRouter(ROUTES).route("refund?", AGENTS, complete),
        ]  # fmt: skip

    none, default, unreadable = run(three())
    assert none.chosen == () and none.reason.startswith("none fits")
    assert default.chosen == ("security",) and not default.fallback
    assert unreadable.fallback and unreadable.chosen == ("billing",)


def test_a_conversation_that_changes_its_mind_is_routed_by_its_last_message(
    server: FakeModelServer,
) -> None:
    agents = [Agent(c.name, c.description, models=[fake_model(server)]) for c in AGENTS]
    router = PreferenceRouter(ROUTES)
    chat = Conversation(Pipeline(agents, router=router, policy=FixedTierPolicy("small")))
    server.script(said("delivery / track"), Reply("It arrives Friday."),
                  said("billing / refund"), Reply("Refund started."))  # fmt: skip
    assert chat.ask("where is my parcel?").agents == ("shipping",)
    assert chat.ask("actually, just give me my money back").agents == ("billing",)
    shown = server.calls()[2].body["messages"][1]["content"]
    assert "where is my parcel?" in shown and "just give me my money back" in shown


def test_declarations_are_checked() -> None:
    with pytest.raises(ConfigError):
        PreferenceRouter(())
    with pytest.raises(ConfigError):
        Route("other", "anything", "billing")
    with pytest.raises(ConfigError):
        PreferenceRouter((ROUTES[0], ROUTES[0]))


def test_routes_to_absent_agents_only_is_a_routing_error(server: FakeModelServer) -> None:
    router = PreferenceRouter((ROUTES[3],))
    with pytest.raises(RoutingError, match="no route"):
        run(router.route("summarise this", AGENTS, reasoning_complete(server)))


OFF_TOPIC = ("what is the weather in madrid tomorrow", "give me a recipe for banana bread")


def test_the_shortlist_narrows_the_routes_and_the_gate_decides_other(
    server: FakeModelServer,
) -> None:
    shortlist = SemanticRouter(embed=toy_embed, off_topic=OFF_TOPIC)
    router = PreferenceRouter(ROUTES, shortlist=shortlist, shortlist_size=1, gate=True)
    complete = reasoning_complete(server)
    server.script(said("delivery / track"), said("other"))

    async def three() -> list[RouteDecision]:
        return [
            await router.route(query, AGENTS, complete)
            for query in ("when will the courier come with my parcel?",
                          "what is the weather like tomorrow",
                          "where is my parcel, the courier is late")
        ]  # fmt: skip

    near, far, kept = run(three())
    assert near.chosen == ("shipping",)
    enum = server.calls()[0].body["response_format"]["json_schema"]["schema"]["properties"]
    assert enum["route"]["enum"] == ["delivery / track", "other"]  # the closest route only
    assert far.chosen == () and "off-topic example" in far.reason
    assert len(server.calls()) == 2  # the gate made no model call for the weather
    # something fits, so the model's "other" gives way to the closest route
    assert kept.chosen == ("shipping",) and "the model said other" in kept.reason


def test_without_the_gate_the_models_other_stands(server: FakeModelServer) -> None:
    router = PreferenceRouter(ROUTES, shortlist=SemanticRouter(embed=toy_embed))
    server.script(said("other"))
    decision = run(router.route("where is my parcel?", AGENTS, reasoning_complete(server)))
    assert decision.chosen == () and decision.reason.startswith("none fits")
    assert len(server.calls()[0].body["messages"][1]["content"].splitlines()) == 3 + 5


def test_a_gate_needs_a_shortlist() -> None:
    with pytest.raises(ConfigError, match="gate"):
        PreferenceRouter(ROUTES, gate=True)
    with pytest.raises(ConfigError, match="shortlist_size"):
        PreferenceRouter(ROUTES, shortlist=SemanticRouter(embed=toy_embed), shortlist_size=0)


def test_when_the_new_message_and_the_conversation_disagree_the_model_decides(
    server: FakeModelServer,
) -> None:
    shortlist = SemanticRouter(embed=toy_embed, off_topic=OFF_TOPIC)
    router = PreferenceRouter(ROUTES, shortlist=shortlist, gate=True)
    agents = [Agent(c.name, c.description, models=[fake_model(server)]) for c in AGENTS]
    chat = Conversation(Pipeline(agents, router=router, policy=FixedTierPolicy("small")))
    server.script(said("delivery / track"), Reply("It arrives Friday, the courier says."),
                  said("other"))  # fmt: skip
    assert chat.ask("when will the courier come with my parcel?").agents == ("shipping",)
    # off topic on its own, in scope with the parcel talk before it: unsure, so the model is
    # asked, and its "other" stands
    with pytest.raises(RoutingError, match="no route fits"):
        chat.ask("what is the weather like tomorrow")
    assert len(server.calls()) == 3
    whole = routing_text(["user: where is my parcel, the courier"], "the weather tomorrow?")
    assert router.narrow(whole, ROUTES[:3]).verdict == "unsure"
    assert router.narrow("the weather in madrid tomorrow", ROUTES[:3]).verdict == "none"
    assert router.narrow("when will the courier come?", ROUTES[:3]).verdict == "fits"
    assert routing_text(["user: hi"], "what now?").endswith(NEW_MESSAGE + "what now?")
    assert new_message(routing_text(["user: hi"], "what now?")) == "what now?"
    assert new_message("New message: a plain task") == "New message: a plain task"


def test_list_all_shows_every_route_and_holds_the_answer_to_the_shortlist(
    server: FakeModelServer,
) -> None:
    shortlist = SemanticRouter(embed=toy_embed)
    router = PreferenceRouter(ROUTES, shortlist=shortlist, shortlist_size=1, list_all=True)
    server.script(said("delivery / track"))
    query = "when will the courier come with my parcel?"
    assert run(router.route(query, AGENTS, reasoning_complete(server))).chosen == ("shipping",)
    body = server.calls()[0].body
    shown = body["messages"][1]["content"]
    assert "billing / refund" in shown and "billing / invoice" in shown  # every usable route
    enum = body["response_format"]["json_schema"]["schema"]["properties"]["route"]["enum"]
    assert enum == ["delivery / track", "other"]
