"""Self-consistency (sigma) router: agreement among cheap probe answers decides how many
models a task needs.

The cheapest candidate answers the query ``probes`` times (sampling at ``temperature``, seeds
``seed``, ``seed + 1``, ...). With ``distinct`` different final answers,

    sigma = (distinct - 1) / (probes - 1)

is 0 when every probe agrees and 1 when none do. At sigma 0 the agreed answer stands and only
the cheapest candidate is charged; up to ``pair_at`` the cheapest and the strongest run; above
it every candidate runs and a judge (the runtime's refining agent) merges them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentroute.errors import ConfigError
from agentroute.routers.answers import normalize
from agentroute.routers.base import Candidate, by_cost
from agentroute.types import Completer, Message, ModelRequest, RouteDecision


def sigma(keys: Sequence[str]) -> float:
    """(distinct - 1) / (n - 1) over answer keys; 0 for a single answer."""
    if len(keys) < 2:
        return 0.0
    return (len(set(keys)) - 1) / (len(keys) - 1)


@dataclass(frozen=True)
class SigmaRouter:
    probes: int = 3
    pair_at: float = 0.5
    temperature: float = 0.7
    max_tokens: int = 256
    seed: int = 0
    instructions: str = "Answer the question. End with the final answer on its own line."
    key: Callable[[str], str] = field(default=normalize, repr=False)
    name: str = "sigma"

    def __post_init__(self) -> None:
        if self.probes < 2:
            raise ConfigError("sigma needs at least 2 probes")
        if not 0.0 <= self.pair_at <= 1.0:
            raise ConfigError("pair_at must lie in [0, 1]")

    def mode(self, s: float, n_candidates: int) -> int:
        """How many candidates to run at this sigma: 1, 2 or all."""
        if s == 0.0 or n_candidates == 1:
            return 1
        return 2 if s <= self.pair_at or n_candidates == 2 else n_candidates

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        ranked = by_cost(self.name, candidates)
        cheapest = ranked[0]
        assert cheapest.complete is not None
        requests = [
            ModelRequest(
                messages=(Message.system(self.instructions), Message.user(query)),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                seed=self.seed + i,
            )
            for i in range(self.probes)
        ]
        done = await asyncio.gather(*(cheapest.complete(r) for r in requests))
        keys = [self.key(c.text) for c in done]
        if not any(k.strip() for k in keys):
            return RouteDecision(
                router=self.name,
                chosen=(ranked[-1].name,),
                scores={"sigma": 1.0},
                reason=f"the {self.probes} probes of {cheapest.name!r} gave no answer: "
                f"{ranked[-1].name!r} answers",
            )
        s = sigma(keys)
        n = self.mode(s, len(ranked))
        chosen = [cheapest] if n == 1 else [cheapest, ranked[-1]] if n == 2 else ranked
        majority, votes = Counter(keys).most_common(1)[0]
        answer = next(c.text for c, k in zip(done, keys, strict=True) if k == majority)
        mode = {1: "single", 2: "pair"}.get(n, "full set with judge")
        return RouteDecision(
            router=self.name,
            chosen=tuple(c.name for c in chosen),
            scores={"sigma": s, "distinct": float(len(set(keys))), "majority_votes": votes},
            reason=f"sigma {s:.2f} over {self.probes} probes of {cheapest.name!r} "
            f"(answers {sorted(set(keys))[:5]}): {mode}",
            answer=answer if n == 1 else None,
        )
