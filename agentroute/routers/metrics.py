"""Offline metrics for weak/strong routing, as RouteLLM reports them.

Given, per query, whether the weak and the strong model answered correctly and a router's
score (higher = send to the strong model), sending the top-k queries to the strong model
traces a curve of accuracy against the strong model's share of calls, k = 0..n.

- PGR at a point = (accuracy - weak accuracy) / (strong accuracy - weak accuracy).
- APGR = the area under PGR over the share of strong calls (trapezoid rule). Random routing
  scores 0.5 in expectation; perfect routing can exceed 1 when the weak model is sometimes
  right where the strong one is wrong.

Ties in the score are broken by the order given, so pass queries in a neutral order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentroute.errors import ConfigError


@dataclass(frozen=True)
class Point:
    strong_share: float
    accuracy: float
    cost: float


def curve(
    scores: Sequence[float],
    weak_ok: Sequence[bool],
    strong_ok: Sequence[bool],
    weak_cost: Sequence[float] | None = None,
    strong_cost: Sequence[float] | None = None,
    always_weak: bool = False,
) -> list[Point]:
    """Accuracy and total cost after routing the top-k scores to strong, for k = 0..n.

    ``always_weak`` models a cascade: the weak model answers every query, so its cost is paid
    even where the strong model is then asked."""
    n = len(scores)
    if not n or not (len(weak_ok) == len(strong_ok) == n):
        raise ConfigError("scores, weak_ok and strong_ok must be non-empty and of equal length")
    wc = list(weak_cost) if weak_cost is not None else [0.0] * n
    sc = list(strong_cost) if strong_cost is not None else [0.0] * n
    order = sorted(range(n), key=lambda i: -scores[i])
    correct = sum(weak_ok)
    cost = sum(wc)
    points = [Point(0.0, correct / n, cost)]
    for k, i in enumerate(order, start=1):
        correct += int(strong_ok[i]) - int(weak_ok[i])
        cost += sc[i] - (0.0 if always_weak else wc[i])
        points.append(Point(k / n, correct / n, cost))
    return points


def pgr(accuracy: float, weak_accuracy: float, strong_accuracy: float) -> float:
    if strong_accuracy == weak_accuracy:
        raise ConfigError("PGR is undefined when both models are equally accurate")
    return (accuracy - weak_accuracy) / (strong_accuracy - weak_accuracy)


def apgr(points: Sequence[Point]) -> float:
    """Area under PGR over strong share for a curve from `curve` (whose first point is
    all-weak and last point all-strong)."""
    weak, strong_accuracy = points[0].accuracy, points[-1].accuracy
    ys = [pgr(p.accuracy, weak, strong_accuracy) for p in points]
    xs = [p.strong_share for p in points]
    return sum((xs[i + 1] - xs[i]) * (ys[i] + ys[i + 1]) / 2 for i in range(len(xs) - 1))


def cheapest_reaching(points: Sequence[Point], accuracy: float) -> Point | None:
    """The cheapest point at or above ``accuracy``; None when the curve never gets there."""
    ok = [p for p in points if p.accuracy >= accuracy - 1e-12]
    return min(ok, key=lambda p: p.cost) if ok else None


def random_accuracy(share: float, weak_accuracy: float, strong_accuracy: float) -> float:
    """Expected accuracy of random mixing with this share of strong calls."""
    return weak_accuracy + share * (strong_accuracy - weak_accuracy)
