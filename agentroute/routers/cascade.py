"""Cascade: the cheapest model answers first; a confidence signal decides whether its answer
stands or the next model up is asked, and so on to the strongest.

``confidence`` maps the query and a completion to a number in [0, 1]: `token_confidence` (the
geometric-mean token probability, needs logprobs), `verifier_confidence` (arithmetic
re-checked, a final answer given, the question's numbers used), or a fitted `Logistic` through
`learned_confidence`, over `AnswerChecks` features or any features of query and answer.
The decision carries the accepted answer, so nobody pays for it twice, and the scores hold
every confidence seen on the way up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentroute.errors import ConfigError
from agentroute.routers.answers import check_answer
from agentroute.routers.base import Candidate, by_cost
from agentroute.types import Completer, Completion, Logistic, Message, ModelRequest, RouteDecision

Confidence = Callable[[str, Completion], float]
Features = Callable[[str, Completion], dict[str, float]]


def answer_check_features(query: str, completion: Completion) -> dict[str, float]:
    return check_answer(completion.text, query).features()


def token_confidence(query: str, completion: Completion) -> float:
    """Geometric-mean probability of the answer's tokens; 0 when no logprobs came back."""
    p = completion.mean_token_prob()
    return 0.0 if p is None else p


def verifier_confidence(query: str, completion: Completion) -> float:
    """1 when the answer commits to a final answer, every equation it wrote checks out and it
    uses the question's numbers; each wrong equation, hedge, missing final answer or unused
    number lowers it."""
    c = check_answer(completion.text, query)
    penalty = 0.5 * c.wrong_equations + 0.15 * c.hedges + (0.5 if not c.has_final else 0.0)
    penalty += 0.3 * (1.0 - (c.question_numbers_used or 0.0))
    return max(0.0, 1.0 - penalty)


def learned_confidence(model: Logistic, features: Features = answer_check_features) -> Confidence:
    """Confidence = 1 - P(wrong) from a logistic model fitted on ``features`` (by default the
    `AnswerChecks` of the answer against the query; ``benchmarks/gsm8k_routing.py`` fits one
    on the RouteLLM table)."""

    def confidence(query: str, completion: Completion) -> float:
        return 1.0 - model.probability(features(query, completion))

    return confidence


@dataclass(frozen=True)
class CascadeRouter:
    threshold: float = 0.5
    confidence: Confidence = field(default=verifier_confidence, repr=False)
    max_tokens: int = 512
    instructions: str = ""
    logprobs: bool = False
    name: str = "cascade"

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError("threshold must lie in [0, 1]")

    def request(self, query: str) -> ModelRequest:
        system = (Message.system(self.instructions),) if self.instructions else ()
        return ModelRequest(
            messages=(*system, Message.user(query)),
            max_tokens=self.max_tokens,
            logprobs=self.logprobs,
        )

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        ranked = by_cost(self.name, candidates)
        scores: dict[str, float] = {}
        for candidate in ranked:
            assert candidate.complete is not None
            completion = await candidate.complete(self.request(query))
            if candidate is ranked[-1]:
                verdict = "answers last"
                break
            raw = float(self.confidence(query, completion))
            scores[candidate.name] = min(1.0, max(0.0, raw)) if math.isfinite(raw) else 0.0
            if scores[candidate.name] >= self.threshold:
                verdict = "accepted"
                break
        return RouteDecision(
            router=self.name,
            chosen=(candidate.name,),
            scores=scores,
            reason=_path(scores, self.threshold) + f"; {candidate.name!r} {verdict}",
            answer=completion.text,
        )


def _path(scores: dict[str, float], threshold: float) -> str:
    steps = [f"{n} {c:.2f}" for n, c in scores.items()]
    return f"confidence (accept at >= {threshold:g}): " + (", ".join(steps) or "none asked")
