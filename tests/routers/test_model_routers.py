"""Cascade, sigma and entropy routers against scripted model servers over real HTTP."""

from __future__ import annotations

import pytest

from agentroute.errors import ConfigError
from agentroute.routers import (
    CascadeRouter,
    EntropyRouter,
    SigmaRouter,
    learned_confidence,
    sigma,
    token_confidence,
)
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import Completion, Logistic, RouteDecision, Usage
from tests.conftest import run
from tests.routers.helpers import SURE, UNSURE, model_candidates

S, L = "openai:small", "openai:large"


def _route(server: FakeModelServer, router, query: str = "q") -> RouteDecision:  # type: ignore[no-untyped-def]
    async def go() -> RouteDecision:
        async with model_candidates(server) as cands:
            return await router.route(query, list(reversed(cands)), None)

    return run(go())


def test_cascade_accepts_a_checked_small_answer(server: FakeModelServer) -> None:
    server.script(Reply("3 * 4 = 12\n#### 12"), model="small")
    d = _route(server, CascadeRouter(threshold=0.9))
    assert d.chosen == (S,) and d.answer and "#### 12" in d.answer
    assert d.scores == {S: 1.0}
    assert [c.body["model"] for c in server.calls()] == ["small"]


def test_cascade_escalates_when_the_arithmetic_is_wrong(server: FakeModelServer) -> None:
    server.script(Reply("3 * 4 = 13\n#### 13"), model="small")
    server.script(Reply("3 * 4 = 12\n#### 12"), model="large")
    d = _route(server, CascadeRouter(threshold=0.9))
    assert d.chosen == (L,) and d.answer and "12" in d.answer
    assert d.scores[S] == pytest.approx(0.5)
    assert [c.body["model"] for c in server.calls()] == ["small", "large"]


def test_cascade_on_token_confidence_asks_for_logprobs(server: FakeModelServer) -> None:
    server.script(Reply("7", logprobs=SURE), model="small")
    d = _route(server, CascadeRouter(threshold=0.9, confidence=token_confidence, logprobs=True))
    assert d.chosen == (S,)
    assert server.calls()[0].body["logprobs"] is True


def test_learned_confidence_reads_answer_checks() -> None:
    model = Logistic(
        features=("wrong_equations",), weights=(3.0,), bias=-2.0, means=(0.0,), scales=(1.0,)
    )
    conf = learned_confidence(model)
    good = Completion(text="2 + 2 = 4 #### 4", model="m", provider="p", usage=Usage())
    bad = good.model_copy(update={"text": "2 + 2 = 5 #### 5"})
    assert conf("2 + 2?", good) > 0.85 > 0.3 > conf("2 + 2?", bad)


def test_sigma_agreement_keeps_the_cheap_answer(server: FakeModelServer) -> None:
    server.script(Reply("so #### 18"), Reply("$18"), Reply("18.0"), model="small")
    d = _route(server, SigmaRouter(probes=3))
    assert (
        d.chosen == (S,) and d.scores["sigma"] == 0.0 and d.answer in {"so #### 18", "$18", "18.0"}
    )
    seeds = sorted(c.body["seed"] for c in server.calls())
    assert seeds == [0, 1, 2] and all(c.body["temperature"] == 0.7 for c in server.calls())


def test_sigma_disagreement_widens_the_set(server: FakeModelServer) -> None:
    server.script(Reply("18"), Reply("18"), Reply("20"), model="small")
    d = _route(server, SigmaRouter(probes=3))
    assert d.scores["sigma"] == 0.5 and d.chosen == (S, L) and d.answer is None
    server.reset()
    server.script(Reply("1"), Reply("2"), Reply("3"), model="small")
    assert _route(server, SigmaRouter(probes=3)).scores["sigma"] == 1.0


def test_sigma_formula_and_validation() -> None:
    assert sigma(["a", "a", "a"]) == 0.0 and sigma(["a", "b", "c"]) == 1.0
    assert sigma(["a", "b", "a", "b", "c"]) == 0.5 and sigma(["x"]) == 0.0
    with pytest.raises(ConfigError):
        SigmaRouter(probes=1)


def test_entropy_router_escalates_an_unsure_first_token(server: FakeModelServer) -> None:
    server.script(Reply("The", logprobs=UNSURE), model="small")
    d = _route(server, EntropyRouter(threshold=1.0))
    assert d.chosen == (L,) and d.scores["entropy"] >= 1.0
    body = server.calls()[0].body
    assert body["max_tokens"] == 1 and body["top_logprobs"] == 10


def test_entropy_router_keeps_a_sure_first_token_small(server: FakeModelServer) -> None:
    server.script(Reply("The", logprobs=SURE), model="small")
    assert _route(server, EntropyRouter(threshold=1.0)).chosen == (S,)


def test_entropy_router_without_logprobs_falls_back_to_large(server: FakeModelServer) -> None:
    server.script(Reply("The"), model="small")
    d = _route(server, EntropyRouter())
    assert d.chosen == (L,) and d.fallback


def test_model_candidates_trace_every_call_and_keep_to_the_budget(server: FakeModelServer) -> None:
    from agentroute.budget import Budget
    from agentroute.errors import BudgetExceededError
    from agentroute.runtime.candidates import ModelCandidates, route_traced
    from agentroute.trace import Tracer
    from tests.conftest import fake_model

    models = [
        fake_model(server, "small", tier="small", price_in=0.1, price_out=0.2),
        fake_model(server, "large", tier="large", price_in=2.0, price_out=8.0),
    ]
    server.script(Reply("3 * 4 = 13\n#### 13", usage=(20, 10)), model="small")
    server.script(Reply("#### 12", usage=(20, 5)), model="large")
    tracer = Tracer()

    async def go() -> RouteDecision:
        async with ModelCandidates(models, tracer=tracer) as cands:
            return await route_traced(CascadeRouter(threshold=0.9), "3 * 4?", cands, tracer=tracer)

    d = run(go())
    kinds = [e.kind for e in tracer.trace]
    assert kinds.count("model_call") == 2 and kinds[-1] == "route"
    assert {e.purpose for e in tracer.trace.of_kind("model_call")} == {"route"}  # type: ignore[union-attr]
    assert tracer.trace[-1].chosen == d.chosen == (L,)  # type: ignore[union-attr]

    async def broke() -> None:
        async with ModelCandidates(models, budget=Budget(usd=1e-9)) as cands:
            await CascadeRouter().route("q", cands, None)

    with pytest.raises(BudgetExceededError):
        run(broke())
