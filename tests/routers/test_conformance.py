"""Every built-in router passes the conformance suite, against real HTTP model calls; a
router that breaks the rules fails it."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack

import pytest

from agentroute.routers import (
    CascadeRouter,
    EntropyRouter,
    FirstRouter,
    LinUCBRouter,
    Member,
    MultiRoundRouter,
    PreferenceRouter,
    ReasoningRouter,
    Route,
    Router,
    SemanticRouter,
    SigmaRouter,
)
from agentroute.routers.base import Candidate
from agentroute.routers.conformance import check_router
from agentroute.testing import FakeModelServer
from agentroute.types import Completer, RouteDecision
from tests.conftest import run
from tests.routers.helpers import (
    AGENTS,
    answer_everything,
    model_candidates,
    reasoning_complete,
    toy_embed,
)

AGENT_ROUTERS: dict[str, tuple[Callable[[], Router], str]] = {
    "first": (FirstRouter, "anything"),
    "reasoning": (lambda: ReasoningRouter(max_agents=2), "Reason: money\nAgents: billing"),
    "reasoning-allow-none": (
        lambda: ReasoningRouter(allow_none=True),
        "Reason: off topic\nAgents: none",
    ),
    "reasoning-tuned": (
        lambda: ReasoningRouter(
            max_agents=2,
            allow_none=True,
            constrained=True,
            examples=1,
            keep_top=True,
            shortlist=SemanticRouter(embed=toy_embed, threshold=0.5),
            shortlist_size=2,
        ),
        '{"reason": "money", "agents": ["billing"]}',
    ),
    "preference": (
        lambda: PreferenceRouter(
            (
                Route("money / refund", "asks for money back", "billing"),
                Route("parcel / track", "asks where a parcel is", "shipping"),
            ),
        ),
        '{"route": "money / refund"}',
    ),
    "preference-gated": (
        lambda: PreferenceRouter(
            (
                Route("money / refund", "asks for money back", "billing"),
                Route("parcel / track", "asks where a parcel is", "shipping"),
            ),
            shortlist=SemanticRouter(embed=toy_embed, off_topic=("a recipe for banana bread",)),
            shortlist_size=1,
            gate=True,
        ),
        '{"route": "money / refund"}',
    ),
    "multi-round": (
        lambda: MultiRoundRouter(
            members=(Member("billing", "answers money questions", price_in=1, price_out=2),),
            cost_weight=0.4,
        ),
        '{"think": "a charge", "model": "billing"}',
    ),
    "multi-round-tags": (
        lambda: MultiRoundRouter(constrained=False, default="shipping"),
        "<think>parcel</think><search>shipping: where is it?</search>",
    ),
    "reasoning-gated": (
        lambda: ReasoningRouter(
            max_agents=2,
            allow_none=True,
            constrained=True,
            keep_top=True,
            gate=True,
            shortlist=SemanticRouter(embed=toy_embed, off_topic=("a recipe for banana bread",)),
        ),
        '{"reason": "money", "agents": ["billing"]}',
    ),
    "semantic": (lambda: SemanticRouter(embed=toy_embed, threshold=0.2), "unused"),
    "semantic-off-topic": (
        lambda: SemanticRouter(embed=toy_embed, off_topic=("a recipe for banana bread",)),
        "unused",
    ),
    "semantic-off-topic-k": (
        lambda: SemanticRouter(
            embed=toy_embed, off_topic=("a recipe for banana bread",), off_topic_k=3
        ),
        "unused",
    ),
    "bandit": (lambda: LinUCBRouter(rng=random.Random(3)), "unused"),
}
MODEL_ROUTERS: dict[str, tuple[Callable[[], Router], str]] = {
    "cascade": (CascadeRouter, "3 + 4 = 7\n#### 7"),
    "sigma": (SigmaRouter, "#### 7"),
    "entropy": (EntropyRouter, "The"),
}


def _check(server: FakeModelServer, make: Callable[[], Router], usual: str, models: bool) -> None:
    async def go() -> None:
        async with AsyncExitStack() as stack:

            async def candidates_for(text: str) -> tuple[list[Candidate], Completer | None]:
                answer_everything(server, text)
                if models:
                    return await stack.enter_async_context(model_candidates(server)), None
                return list(AGENTS), reasoning_complete(server)

            await check_router(make, candidates_for, "I was charged twice for one order", usual)

    run(go())


@pytest.mark.parametrize("name", sorted(AGENT_ROUTERS))
def test_agent_routers_conform(server: FakeModelServer, name: str) -> None:
    make, usual = AGENT_ROUTERS[name]
    _check(server, make, usual, models=False)


@pytest.mark.parametrize("name", sorted(MODEL_ROUTERS))
def test_model_routers_conform(server: FakeModelServer, name: str) -> None:
    make, usual = MODEL_ROUTERS[name]
    _check(server, make, usual, models=True)


class _Careless:
    """Chooses a name nobody declared, differently each call, and never checks its input."""

    name = "careless"

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        _Careless.count = getattr(_Careless, "count", 0) + 1
        return RouteDecision(router="other", chosen=(f"ghost{_Careless.count}",), reason="")


def test_a_careless_router_fails_with_every_broken_rule_named(server: FakeModelServer) -> None:
    with pytest.raises(AssertionError) as e:
        _check(server, _Careless, "x", models=False)
    text = str(e.value)
    for rule in ("names router 'other'", "outside the candidates", "no reason",
                 "not deterministic", "no candidates: no RoutingError"):  # fmt: skip
        assert rule in text
