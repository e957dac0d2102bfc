from __future__ import annotations

import math

import pytest

from agentroute import ConfigError
from agentroute.graph import Edge, TaskGraph, changed, node_factors, reweight, shortest_path
from agentroute.types import HealthSignal

DIAMOND = [("s", "a", 1.0), ("s", "b", 2.0), ("a", "g", 1.0), ("b", "g", 1.0)]


def test_validation_errors() -> None:
    with pytest.raises(ConfigError, match="cannot be reached"):
        TaskGraph([("s", "a"), ("g", "a")], start="s", goal="g")
    with pytest.raises(ConfigError, match="cost"):
        TaskGraph([("s", "g", -1.0)], start="s", goal="g")
    with pytest.raises(ConfigError, match="cost"):
        TaskGraph([("s", "g", math.nan)], start="s", goal="g")
    with pytest.raises(ConfigError, match="undeclared"):
        TaskGraph([("s", "g"), ("s", "x")], start="s", goal="g", nodes={"s": "start", "g": "goal"})
    with pytest.raises(ConfigError, match="not in the graph"):
        TaskGraph([("s", "g")], start="s", goal="g", lesser_goals=["nowhere"])
    with pytest.raises(ConfigError, match="self-loop"):
        TaskGraph([("s", "s"), ("s", "g")], start="s", goal="g")


def test_dijkstra_takes_the_cheapest_path() -> None:
    g = TaskGraph(DIAMOND, start="s", goal="g")
    plan = shortest_path(g, reweight(g, {}), "s", "g")
    assert plan is not None and plan.path == ("s", "a", "g") and plan.cost == 2.0


def test_down_node_is_avoided_and_factors_multiply() -> None:
    g = TaskGraph([Edge(*e) for e in DIAMOND], start="s", goal="g")
    sigs = [
        HealthSignal(monitor="m", target="a", kind="x", multiplier=2.0),
        HealthSignal(monitor="n", target="a", kind="y", multiplier=1.5),
    ]
    factors = node_factors(sigs)
    assert factors == {"a": 3.0}
    w = reweight(g, factors)
    assert w[("s", "a")] == 3.0
    assert shortest_path(g, w, "s", "g").path == ("s", "b", "g")  # type: ignore[union-attr]
    down = node_factors([HealthSignal(monitor="m", target="b", kind="down", down=True)], ["a"])
    assert shortest_path(g, reweight(g, down), "s", "g") is None


def test_paper_weight_formula_from_monitor_factors() -> None:
    # base x max(0.5, latency_ms/100) / max(0.01, reliability) x (1 + 5 x proximity)
    g = TaskGraph([("s", "t", 2.0), ("t", "g", 1.0)], start="s", goal="g")
    sigs = [
        HealthSignal(monitor="lat", target="t", kind="latency", multiplier=max(0.5, 250 / 100)),
        HealthSignal(monitor="br", target="t", kind="degraded", multiplier=1 / 0.8),
        HealthSignal(monitor="rl", target="t", kind="rate_limit", multiplier=1 + 5 * 0.2),
    ]
    w = reweight(g, node_factors(sigs))
    assert w[("s", "t")] == pytest.approx(2.0 * 2.5 / 0.8 * 2.0)


def test_changed_lists_only_differences() -> None:
    old = {("a", "b"): 1.0, ("b", "c"): 2.0}
    new = {("a", "b"): 1.0, ("b", "c"): math.inf}
    assert changed(old, new) == (("b", "c", 2.0, math.inf),)


def test_down_node_behind_a_zero_cost_edge_weighs_infinity() -> None:
    from agentroute.graph import Reweighter

    g = TaskGraph([("s", "a", 0.0), ("a", "g", 1.0), ("s", "g", 5.0)], start="s", goal="g")
    assert reweight(g, {"a": math.inf})[("s", "a")] == math.inf
    rw = Reweighter(g)
    assert rw.apply({"a": math.inf}) == (("s", "a", 0.0, math.inf),)
    assert shortest_path(g, rw.weights, "s", "g").path == ("s", "g")  # type: ignore[union-attr]


def test_signals_can_target_a_single_edge() -> None:
    from agentroute.graph import Reweighter, edge_key

    g = TaskGraph(
        [("s", "a", 1.0), ("b", "a", 1.0), ("s", "b", 1.0), ("a", "g", 1.0)], start="s", goal="g"
    )
    sig = HealthSignal(monitor="m", target=edge_key("s", "a"), kind="slow_link", multiplier=4.0)
    factors = node_factors([sig])
    w = reweight(g, factors)
    assert w[("s", "a")] == 4.0 and w[("b", "a")] == 1.0
    rw = Reweighter(g)
    assert rw.apply(factors) == (("s", "a", 1.0, 4.0),)
    assert rw.apply({}) == (("s", "a", 4.0, 1.0),)
