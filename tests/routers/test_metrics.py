"""Routing metrics on tables small enough to work out by hand."""

from __future__ import annotations

import random

import pytest

from agentroute.errors import ConfigError
from agentroute.routers.metrics import apgr, cheapest_reaching, curve, random_accuracy

WEAK = [True, False, False, True]
STRONG = [True, True, True, False]


def test_curve_by_hand() -> None:
    pts = curve([0.1, 0.9, 0.8, 0.0], WEAK, STRONG, [1, 1, 1, 1], [10, 10, 10, 10])
    assert [p.accuracy for p in pts] == [0.5, 0.75, 1.0, 1.0, 0.75]
    assert [p.cost for p in pts] == [4, 13, 22, 31, 40]
    # PGR at k = 0..4 is 0, 1, 2, 2, 1; trapezoids of width 1/4
    assert apgr(pts) == pytest.approx((0.5 + 1.5 + 2.0 + 1.5) * 0.25)
    assert cheapest_reaching(pts, 1.0).cost == 22  # type: ignore[union-attr]
    assert cheapest_reaching(pts, 1.01) is None


def test_cascade_pays_the_weak_model_always() -> None:
    pts = curve([0.1, 0.9, 0.8, 0.0], WEAK, STRONG, [1] * 4, [10] * 4, always_weak=True)
    assert [p.cost for p in pts] == [4, 14, 24, 34, 44]


def test_random_scores_average_about_one_half() -> None:
    rng = random.Random(5)
    weak = [rng.random() < 0.6 for _ in range(400)]
    strong = [w or rng.random() < 0.7 for w in weak]
    runs = [apgr(curve([rng.random() for _ in weak], weak, strong)) for _ in range(200)]
    assert sum(runs) / len(runs) == pytest.approx(0.5, abs=0.02)
    perfect = [float(s and not w) for w, s in zip(weak, strong, strict=True)]
    assert apgr(curve(perfect, weak, strong)) > max(runs) + 0.2
    assert random_accuracy(0.5, 0.6, 0.8) == pytest.approx(0.7)


def test_bad_tables_raise() -> None:
    with pytest.raises(ConfigError):
        curve([], [], [])
    with pytest.raises(ConfigError):
        apgr(curve([0.0, 1.0], [True, False], [True, False]))
