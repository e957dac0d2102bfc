"""Adapter routing: the cache-aware choice, the epoch controller, and learning together."""

from __future__ import annotations

import pytest

from agentroute import ConfigError
from agentroute.models.model import Adapters
from agentroute.routers.adapters import AdapterRouter, choose_adapter, plan_cache

PAGING = {"sql": 0.4, "legal": 0.4, "med": 0.4}


def test_a_cold_adapter_is_chosen_only_when_its_bound_beats_its_paging() -> None:
    bounds = {"sql": 0.5, "legal": 0.8, "med": 0.1}
    warm = choose_adapter(bounds, ("sql",), PAGING, 1.0)  # 0.8 - 0.4 < 0.5
    assert (warm.chosen, warm.paged, warm.paging_s) == ("sql", False, 0.0)
    assert warm.net == {"sql": 0.5, "legal": pytest.approx(0.4), "med": pytest.approx(-0.3)}
    cold = choose_adapter(bounds, ("med",), PAGING, 1.0)  # 0.8 - 0.4 > 0.1
    assert (cold.chosen, cold.paged, cold.paging_s) == ("legal", True, 0.4)
    assert "cold" in cold.reason
    free = choose_adapter(bounds, ("sql",), PAGING, 0.0)  # paging costs nothing: best bound
    assert free.chosen == "legal"


def test_the_cache_plan_keeps_what_the_epochs_queries_need() -> None:
    sql, med = {"sql": 0.9, "legal": 0.1, "med": 0.2}, {"sql": 0.1, "legal": 0.2, "med": 0.9}
    means = [sql] * 5 + [med] * 3
    assert plan_cache(means, 1, PAGING, 1.0) == ("sql",)
    assert set(plan_cache(means, 2, PAGING, 1.0)) == {"sql", "med"}
    # a tie keeps what is resident
    even = [{"sql": 0.5, "legal": 0.5, "med": 0.5}]
    assert plan_cache(even, 1, PAGING, 1.0, keep=("med",)) == ("med",)


def features(query: str) -> list[float]:
    return [1.0, float("select" in query), float("contract" in query), float("dose" in query)]


def domain(query: str) -> str:
    return "sql" if "select" in query else "legal" if "contract" in query else "med"


def test_routing_and_caching_learn_together() -> None:
    router = AdapterRouter(("sql", "legal", "med"), 1, PAGING, epoch=8, alpha=0.3,
                           features=features)  # fmt: skip
    queries = ["select rows", "select names", "select totals", "read this contract",
               "dose for a child"] * 12  # fmt: skip
    good = 0
    for i, q in enumerate(queries):
        choice = router.choose(q)
        router.observe(q, choice.chosen, 1.0 if choice.chosen == domain(q) else 0.2)
        if i >= len(queries) - 20:
            good += choice.chosen == domain(q)
    assert router.epochs == len(queries) // 8
    assert router.resident == ("sql",)  # the most asked-for domain stays resident
    assert good >= 16  # the rare domains still reach their adapter, paging paid


def test_epoch_doubling_lengthens_each_epoch() -> None:
    router = AdapterRouter(("sql", "legal"), 1, {"sql": 0.1, "legal": 0.1}, epoch=2,
                           doubling=True, features=features)  # fmt: skip
    for i in range(14):
        router.choose(f"select {i}")
    assert router.epochs == 3 and router.epoch == 16  # epochs of 2, 4 and 8 calls


def test_bad_declarations_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="capacity"):
        Adapters(names=("a",), capacity=2)
    with pytest.raises(ConfigError, match="repeat"):
        Adapters(names=("a", "a"))
    with pytest.raises(ConfigError, match="exactly the adapters"):
        Adapters(names=("a", "b"), capacity=1, paging_s={"a": 0.1})
    with pytest.raises(ConfigError):
        Adapters(names=("a",), capacity=1, paging_s=-1.0)
    with pytest.raises(ConfigError):
        AdapterRouter(("a", "b"), 3, {"a": 0.1, "b": 0.1})
    assert Adapters(names=("a", "b"), capacity=1, paging_s={"a": 0.1, "b": 0.3}).paging("b") == 0.3
