"""Contextual bandit router (LinUCB, disjoint arms): learns online which candidate pays off for
which kind of query.

Each candidate is an arm with a ridge-regression estimate of reward from the query's feature
vector x. The router picks the arm with the highest upper confidence bound

    theta_a . x + alpha * sqrt(x' A_a^-1 x)

and `observe` updates that arm with the reward seen (`reward` mixes quality and cost). A new
candidate starts with no data and a wide bound, so it is tried without retraining the others.
A_a^-1 is kept directly and updated by Sherman-Morrison, so a step is O(d^2) in plain Python.
Ties are broken by the injected random generator; `state`/`from_state` persist what was learned.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentroute.errors import ConfigError, RoutingError
from agentroute.routers.base import Candidate, check_candidates
from agentroute.types import Completer, RouteDecision

Features = Callable[[str], Sequence[float]]


def query_features(query: str) -> list[float]:
    """A small default context: bias, length, how numeric, how many clauses and questions."""
    words = query.split()
    numbers = re.findall(r"\d+(?:\.\d+)?", query)
    return [
        1.0,
        math.log1p(len(words)) / 5,
        len(numbers) / 10,
        query.count(",") / 10 + query.count(".") / 10,
        float("?" in query),
    ]


def reward(quality: float, cost: float, cost_weight: float) -> float:
    """Quality (0..1) minus ``cost_weight`` per unit of cost: what the bandit maximises."""
    return quality - cost_weight * cost


@dataclass
class _Arm:
    a_inv: list[list[float]]
    b: list[float]
    pulls: int = 0

    @classmethod
    def fresh(cls, d: int, ridge: float) -> _Arm:
        return cls(
            [[(1.0 / ridge if i == j else 0.0) for j in range(d)] for i in range(d)], [0.0] * d
        )

    def estimate(self, x: Sequence[float]) -> tuple[float, float]:
        ax = [sum(r[j] * x[j] for j in range(len(x))) for r in self.a_inv]
        theta = [sum(r[j] * self.b[j] for j in range(len(x))) for r in self.a_inv]
        mean = sum(t * xi for t, xi in zip(theta, x, strict=True))
        width = math.sqrt(max(0.0, sum(xi * v for xi, v in zip(x, ax, strict=True))))
        return mean, width

    def update(self, x: Sequence[float], r: float) -> None:
        ax = [sum(row[j] * x[j] for j in range(len(x))) for row in self.a_inv]
        denom = 1.0 + sum(xi * v for xi, v in zip(x, ax, strict=True))
        self.a_inv = [
            [self.a_inv[i][j] - ax[i] * ax[j] / denom for j in range(len(x))] for i in range(len(x))
        ]
        self.b = [bi + r * xi for bi, xi in zip(self.b, x, strict=True)]
        self.pulls += 1


@dataclass
class LinUCBRouter:
    alpha: float = 1.0
    ridge: float = 1.0
    features: Features = field(default=query_features, repr=False)
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)
    name: str = "bandit"
    _arms: dict[str, _Arm] = field(default_factory=dict, repr=False)
    _dim: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.ridge <= 0:
            raise ConfigError("alpha must be >= 0 and ridge > 0")

    def _x(self, query: str) -> list[float]:
        x = [float(v) for v in self.features(query)]
        if not x or not all(math.isfinite(v) for v in x):
            raise RoutingError(f"router {self.name!r}: features must be finite and non-empty")
        if self._dim is None:
            self._dim = len(x)
        elif len(x) != self._dim:
            raise RoutingError(f"router {self.name!r}: {len(x)} features, expected {self._dim}")
        return x

    def _arm(self, name: str) -> _Arm:
        if name not in self._arms:
            assert self._dim is not None
            self._arms[name] = _Arm.fresh(self._dim, self.ridge)
        return self._arms[name]

    def ucb(self, query: str, names: Sequence[str]) -> dict[str, float]:
        return {n: mean + self.alpha * width for n, (mean, width) in
                self.estimates(query, names).items()}  # fmt: skip

    def estimates(self, query: str, names: Sequence[str]) -> dict[str, tuple[float, float]]:
        """Each arm's estimated reward for ``query`` and the width of its confidence bound
        (the upper bound is ``mean + alpha * width``)."""
        x = self._x(query)
        return {n: self._arm(n).estimate(x) for n in names}

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        check_candidates(self.name, candidates)
        bounds = self.ucb(query, [c.name for c in candidates])
        top = max(bounds.values())
        tied = [n for n, v in bounds.items() if v >= top - 1e-12]
        pick = tied[0] if len(tied) == 1 else self.rng.choice(tied)
        return RouteDecision(
            router=self.name,
            chosen=(pick,),
            scores={n: round(v, 6) for n, v in bounds.items()},
            reason=f"highest upper bound {bounds[pick]:.3f} ({self._arms[pick].pulls} pulls)"
            + (f"; tie among {len(tied)} broken at random" if len(tied) > 1 else ""),
        )

    def observe(self, query: str, chosen: str, value: float) -> None:
        """Learn from the reward ``value`` that ``chosen`` earned on ``query``."""
        if not math.isfinite(value):
            raise RoutingError(f"router {self.name!r}: reward must be finite, not {value}")
        x = self._x(query)
        self._arm(chosen).update(x, value)

    def state(self) -> dict[str, Any]:
        return {
            "dim": self._dim,
            "arms": {
                n: {"a_inv": a.a_inv, "b": a.b, "pulls": a.pulls} for n, a in self._arms.items()
            },
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._dim = state["dim"]
        self._arms = {
            n: _Arm(
                [list(map(float, r)) for r in a["a_inv"]], list(map(float, a["b"])), int(a["pulls"])
            )
            for n, a in state["arms"].items()
        }
