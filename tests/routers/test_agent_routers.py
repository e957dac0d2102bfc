"""Semantic, bandit and reasoning routers: behaviour, learning, and the strict parser."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentroute import Agent, FixedTierPolicy, Pipeline, ReasoningRouter
from agentroute.errors import ConfigError, RoutingError
from agentroute.routers import Candidate, LinUCBRouter, SemanticRouter, calibrate, reward
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import fake_model, run
from tests.routers.helpers import AGENTS, toy_embed


def test_semantic_router_picks_the_closest_and_says_why() -> None:
    d = run(SemanticRouter(embed=toy_embed).route("I was charged twice", AGENTS, None))
    assert d.chosen == ("billing",)
    assert d.scores["billing"] > d.scores["shipping"] and "billing" in d.reason


def test_semantic_router_says_none_fits_below_its_threshold() -> None:
    d = run(SemanticRouter(embed=toy_embed, threshold=0.9).route("the weather", AGENTS, None))
    assert d.chosen == () and d.reason.startswith("none fits")


def test_semantic_margin_returns_a_set_and_the_catalogue_is_embedded_once() -> None:
    seen: list[int] = []

    def counting(texts):  # type: ignore[no-untyped-def]
        seen.append(len(texts))
        return toy_embed(texts)

    router = SemanticRouter(embed=counting, margin=1.0, max_agents=2)
    d1 = run(router.route("parcel invoice", AGENTS, None))
    run(router.route("another question", AGENTS, None))
    assert len(d1.chosen) == 2
    assert seen == [9, 1, 1]  # catalogue once (3 descriptions + 6 examples), then queries


def test_calibrate_finds_a_threshold_that_separates_none_fits() -> None:
    router = SemanticRouter(embed=toy_embed)
    labelled = [
        ("I was charged twice", "billing"),
        ("track my order please", "shipping"),
        ("reset my password", "security"),
        ("what a lovely sunset", None),
        ("recipe for lentil soup", None),
    ]
    t = calibrate(router, labelled, AGENTS)
    tuned = SemanticRouter(embed=toy_embed, threshold=t)
    for query, gold in labelled:
        d = run(tuned.route(query, AGENTS, None))
        assert d.chosen == ((gold,) if gold else ())
    with pytest.raises(ConfigError):
        calibrate(router, [], AGENTS)


def test_bandit_learns_which_arm_pays_for_which_queries() -> None:
    router = LinUCBRouter(alpha=0.5, rng=random.Random(1))
    arms = [Candidate("calc", "numbers"), Candidate("chat", "words")]
    rng = random.Random(7)
    for _ in range(300):
        numeric = rng.random() < 0.5
        q = (
            f"what is {rng.randint(1, 99)} plus {rng.randint(1, 99)}"
            if numeric
            else "tell me a story"
        )
        d = run(router.route(q, arms, None))
        good = (d.chosen[0] == "calc") == numeric
        router.observe(q, d.chosen[0], reward(1.0 if good else 0.0, 0.0, 0.0))
    assert run(router.route("what is 12 plus 30", arms, None)).chosen == ("calc",)
    assert run(router.route("tell me a story", arms, None)).chosen == ("chat",)


def test_bandit_state_round_trips_and_a_new_arm_is_tried() -> None:
    router = LinUCBRouter(alpha=1.0)
    arms = [Candidate("a", "a")]
    for _ in range(20):
        router.observe("q", "a", 0.2)
    copy = LinUCBRouter(alpha=1.0)
    copy.load_state(router.state())
    assert copy.ucb("q", ["a"]) == router.ucb("q", ["a"])
    d = run(router.route("q", [*arms, Candidate("new", "n")], None))
    assert d.chosen == ("new",)  # no data yet: the widest bound
    with pytest.raises(RoutingError):
        router.observe("q", "a", float("nan"))


def test_parser_reads_ids_and_names_and_rejects_the_rest() -> None:
    r = ReasoningRouter(max_agents=3)
    chosen, reason, rejected, said_none = r.parse(
        "Reason: money and parcels\nAgents: [2] shipping, 1, ghost, [3] billling", AGENTS
    )
    assert chosen == ("shipping", "billing") and reason == "money and parcels"
    assert rejected == ["ghost", "[3] billling"] and not said_none


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.text(max_size=60))
def test_parser_never_raises_and_only_returns_catalogue_names(noise: str, agents: str) -> None:
    r = ReasoningRouter(max_agents=2)
    for text in (noise, f"Reason: {noise}\nAgents: {agents}", f"agents:{agents}, billing"):
        chosen, reason, rejected, _ = r.parse(text, AGENTS)
        assert set(chosen) <= {c.name for c in AGENTS} and len(chosen) <= 2
        assert len(reason) <= 300 and len(rejected) <= 8


def test_none_fits_escalates_in_the_pipeline(server: FakeModelServer) -> None:
    server.script(Reply("Reason: this is about cooking\nAgents: none"))
    agents = [Agent(c.name, c.description, models=[fake_model(server)]) for c in AGENTS]
    pipeline = Pipeline(
        agents, router=ReasoningRouter(allow_none=True), policy=FixedTierPolicy("small")
    )
    with pytest.raises(RoutingError, match="no agent fits") as info:
        pipeline.run("How long do I boil an egg?")
    kinds = [e.kind for e in info.value.trace]  # type: ignore[attr-defined]
    assert kinds[-3:] == ["route", "escalation", "run_end"]
    assert len(server.calls()) == 1


def test_without_allow_none_the_default_agent_answers(server: FakeModelServer) -> None:
    server.script(Reply("Reason: cooking\nAgents: none"), Reply("try security"))
    agents = [Agent(c.name, c.description, models=[fake_model(server)]) for c in AGENTS]
    router = ReasoningRouter(default="security")
    result = Pipeline(agents, router=router, policy=FixedTierPolicy("small")).run("boil an egg")
    assert result.agents == ("security",)
    [route] = result.trace.of_kind("route")
    assert route.fallback  # type: ignore[union-attr]
