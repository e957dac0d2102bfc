"""The reasoning router's shortlist, examples, constrained output and kept closest agent, on
a real fake server: what the model is shown, what it is held to, and what is chosen."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pytest

from agentroute import ReasoningRouter
from agentroute.errors import ConfigError
from agentroute.routers import Candidate, SemanticRouter
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import RouteDecision
from tests.conftest import run
from tests.routers.helpers import AGENTS, reasoning_complete, toy_embed


def tuned(**options: Any) -> ReasoningRouter:
    options.setdefault("shortlist", SemanticRouter(embed=toy_embed, threshold=0.5))
    return ReasoningRouter(
        max_agents=2, allow_none=True, max_tokens=96, constrained=True, examples=1,
        shortlist_size=2, **options,
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


OFF_TOPIC = ("what is the weather in madrid tomorrow", "give me a recipe for banana bread")


def test_off_topic_examples_say_none_fits_where_a_threshold_cannot() -> None:
    plain = SemanticRouter(embed=toy_embed)
    guarded = SemanticRouter(embed=toy_embed, off_topic=OFF_TOPIC)
    query = "what is the weather like tomorrow"
    assert run(plain.route(query, AGENTS, None)).chosen  # something always "fits" a threshold
    decision = run(guarded.route(query, AGENTS, None))
    assert decision.chosen == () and "off-topic example" in decision.reason
    assert run(guarded.route("my parcel is late again", AGENTS, None)).chosen == ("shipping",)
    assessed = guarded.assess(query, AGENTS)
    assert assessed.off_topic is not None and assessed.off_topic > max(assessed.scores.values())
    # the margin is the benefit of the doubt the agents get
    lenient = SemanticRouter(embed=toy_embed, off_topic=OFF_TOPIC, off_topic_margin=1.0)
    assert run(lenient.route(query, AGENTS, None)).chosen


def test_the_gate_says_none_without_calling_the_model(server: FakeModelServer) -> None:
    server.script(Reply(json.dumps({"reason": "a late parcel", "agents": ["shipping"]})))
    shortlist = SemanticRouter(embed=toy_embed, off_topic=OFF_TOPIC)
    router = tuned(keep_top=True, gate=True, shortlist=shortlist)
    complete = reasoning_complete(server)
    far = run(router.route("what is the weather like tomorrow", AGENTS, complete))
    assert far.chosen == () and "off-topic example" in far.reason
    assert server.calls() == []  # decided by the embeddings alone
    near = run(router.route("my parcel is late again", AGENTS, complete))
    assert near.chosen == ("shipping",) and len(server.calls()) == 1


def test_bad_off_topic_and_gate_settings_are_typed_errors() -> None:
    with pytest.raises(ConfigError, match="off_topic"):
        SemanticRouter(embed=toy_embed, off_topic="weather")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="off_topic"):
        SemanticRouter(embed=toy_embed, off_topic=("", "recipes"))
    with pytest.raises(ConfigError, match="gate"):
        ReasoningRouter(gate=True)  # no shortlist, no allow_none


def test_off_topic_k_needs_an_off_topic_example_among_the_k_nearest_texts() -> None:
    # each text at a set cosine from the query: two in-scope texts above the off-topic one
    cosines = {"q": 1.0, "parcels": 0.9, "late parcels": 0.8, "refunds": 0.5, "weather": 0.85}

    def embed(texts: Sequence[str]) -> list[list[float]]:
        return [[cosines[t], math.sqrt(1 - cosines[t] ** 2)] for t in texts]

    agents = [Candidate("shipping", "parcels", ("late parcels",)), Candidate("billing", "refunds")]
    nearest = SemanticRouter(embed=embed, off_topic=("weather",))
    assert nearest.assess("q", agents).fits  # the closest text is in scope
    voted = SemanticRouter(embed=embed, off_topic=("weather",), off_topic_k=2)
    assessed = voted.assess("q", agents)
    assert not assessed.fits and "among the 2 nearest" in assessed.why
    assert (
        SemanticRouter(embed=embed, off_topic=("weather",), off_topic_k=9).assess("q", agents).fits
        is False
    )  # k past the catalogue: the farthest in-scope text is the bar
    with pytest.raises(ConfigError, match="off_topic_k"):
        SemanticRouter(embed=embed, off_topic=("weather",), off_topic_k=0)
