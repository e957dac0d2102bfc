"""The reasoning router's shortlist, examples, constrained output and kept closest agent, on
a real fake server: what the model is shown, what it is held to, and what is chosen."""

from __future__ import annotations

import json
from typing import Any

from agentroute import ReasoningRouter
from agentroute.routers import SemanticRouter
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import RouteDecision
from tests.conftest import run
from tests.routers.helpers import AGENTS, reasoning_complete, toy_embed


def tuned(**options: Any) -> ReasoningRouter:
    return ReasoningRouter(
        max_agents=2, allow_none=True, max_tokens=96, constrained=True, examples=1,
        shortlist=SemanticRouter(embed=toy_embed, threshold=0.5), shortlist_size=2, **options,
    )  # fmt: skip


def test_the_model_reads_the_shortlist_with_examples_and_is_held_to_its_names(
    server: FakeModelServer,
) -> None:
    server.script(Reply(json.dumps({"reason": "a late parcel", "agents": ["shipping"]})))
    decision = run(tuned().route("my parcel is late again", AGENTS, reasoning_complete(server)))
    assert decision.chosen == ("shipping",) and decision.reason == "a late parcel"
    body = server.calls()[0].body
    shown = body["messages"][1]["content"]
    assert "shipping" in shown and '"my parcel is late"' in shown  # an example, few-shot
    assert "security" not in shown  # not on the shortlist of 2
    enum = body["response_format"]["json_schema"]["schema"]["properties"]["agents"]["items"]
    assert set(enum["enum"]) == {"shipping", "billing", "none"}  # the shortlist, and none


def test_the_closest_agent_joins_a_different_choice(server: FakeModelServer) -> None:
    server.script(Reply(json.dumps({"reason": "money", "agents": ["billing"]})))
    router = tuned(keep_top=True)
    decision = run(router.route("my parcel is late again", AGENTS, reasoning_complete(server)))
    assert decision.chosen == ("billing", "shipping")
    assert "closest by meaning" in decision.reason


def test_none_stands_only_when_nothing_is_close(server: FakeModelServer) -> None:
    server.script(Reply(json.dumps({"reason": "cooking", "agents": ["none"]})),
                  Reply(json.dumps({"reason": "unclear", "agents": ["none"]})))  # fmt: skip
    router, complete = tuned(keep_top=True), reasoning_complete(server)

    async def both() -> tuple[RouteDecision, RouteDecision]:
        far = await router.route("how long do I boil an egg", AGENTS, complete)
        return far, await router.route("I cannot log in", AGENTS, complete)

    far, near = run(both())
    assert far.chosen == () and far.reason.startswith("none fits")
    assert near.chosen == ("security",)  # the model said none; "security" is close


def test_a_plain_answer_still_parses_when_the_server_ignores_the_schema(
    server: FakeModelServer,
) -> None:
    server.script(Reply("Reason: parcels\nAgents: shipping"))
    decision = run(tuned().route("where is my parcel", AGENTS, reasoning_complete(server)))
    assert decision.chosen == ("shipping",) and not decision.fallback
