"""Entropy router (GlimpRouter's rule): the cheapest model writes the first token of the step;
if that token's entropy is at or above ``threshold`` the strongest model writes the step.

One call decides one step: the runtime (or `write_steps`) calls it again for each reasoning
step with the text so far in the query. The probe asks for ``top_logprobs`` alternatives and
one token, so it costs one prompt and one output token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentroute.errors import ConfigError
from agentroute.routers.base import Candidate, by_cost
from agentroute.types import Completer, Message, ModelRequest, RouteDecision


@dataclass(frozen=True)
class EntropyRouter:
    threshold: float = 1.0
    top_logprobs: int = 10
    name: str = "entropy"

    def __post_init__(self) -> None:
        if self.threshold < 0 or not 1 <= self.top_logprobs <= 20:
            raise ConfigError("threshold must be >= 0 and top_logprobs in 1..20")

    def probe(self, query: str) -> ModelRequest:
        return ModelRequest(
            messages=(Message.user(query),),
            max_tokens=1,
            logprobs=True,
            top_logprobs=self.top_logprobs,
        )

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        ranked = by_cost(self.name, candidates)
        small, large = ranked[0], ranked[-1]
        assert small.complete is not None
        completion = await small.complete(self.probe(query))
        if not completion.logprobs:
            return RouteDecision(
                router=self.name,
                chosen=(large.name,),
                reason=f"{small.name!r} returned no logprobs: {large.name!r} writes the step",
                fallback=True,
            )
        h = completion.logprobs[0].entropy()
        pick, cmp = (large, ">=") if h >= self.threshold else (small, "<")
        return RouteDecision(
            router=self.name,
            chosen=(pick.name,),
            scores={"entropy": h, "threshold": self.threshold},
            reason=f"first-token entropy {h:.2f} {cmp} {self.threshold:g}: {pick.name!r} writes",
        )
