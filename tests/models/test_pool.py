"""The replica pick of a model pool, as a pure function: rings, keys and rules."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from agentroute import ConfigError, Model
from agentroute.models.pool import (
    Balance,
    DualRing,
    PoolView,
    pick,
    prefix_key,
    replica_names,
)
from agentroute.types import Message

NAMES = ("a:1", "b:1", "c:1", "d:1")
KEYS = [prefix_key([Message.user(f"prefix {i}")], 64)[:2] for i in range(4000)]


def idle(n: int = 4, **kw: object) -> PoolView:
    return PoolView((0,) * n, (0.0,) * n, (1.0,) * n, **kw)  # type: ignore[arg-type]


def test_each_ring_spreads_keys_evenly() -> None:
    ring = DualRing(NAMES, 64)
    for r in (0, 1):
        counts = Counter(ring.owner(r, k[r], range(4)) for k in KEYS)
        assert set(counts) == {0, 1, 2, 3}
        assert max(counts.values()) < 2 * len(KEYS) / 4, counts


def test_the_two_rings_are_independent() -> None:
    ring = DualRing(NAMES, 64)
    pairs = Counter((ring.owner(0, k[0], range(4)), ring.owner(1, k[1], range(4))) for k in KEYS)
    assert len(pairs) == 16  # every (first, second) combination occurs


def test_adding_a_replica_moves_only_the_keys_it_takes() -> None:
    before, after = DualRing(NAMES, 64), DualRing((*NAMES, "e:1"), 64)
    moved = 0
    for k in KEYS:
        old, new = before.owner(0, k[0], range(4)), after.owner(0, k[0], range(5))
        if old != new:
            moved += 1
            assert new == 4, "a key moved between two old replicas"
    assert 0 < moved < 0.35 * len(KEYS)  # about a fifth, never a reshuffle


def test_a_replica_that_is_down_hands_its_keys_on_and_keeps_the_others_in_place() -> None:
    ring = DualRing(NAMES, 64)
    for k in KEYS[:500]:
        owner = ring.owner(0, k[0], range(4))
        assert owner is not None
        without = ring.owner(0, k[0], [i for i in range(4) if i != 2])
        assert without == owner if owner != 2 else without != 2


def test_the_key_covers_the_first_prefix_chars_only() -> None:
    system = Message.system("You are the billing assistant. " * 4)
    a = prefix_key([system, Message.user("refund please")], 60)
    b = prefix_key([system, Message.user("where is my parcel")], 60)
    c = prefix_key([Message.system("You are the shipping assistant."), system], 60)
    assert a == b and a != c
    assert prefix_key([system, Message.user("x")], 4000) != prefix_key(
        [system, Message.user("y")], 4000
    )


def test_dualmap_keeps_a_prefix_on_one_replica_while_it_is_fast_and_not_hot() -> None:
    ring, bal = DualRing(NAMES, 64), Balance()
    key = KEYS[7]
    first = pick(bal, ring, key, idle(), names=NAMES)
    assert first.rule == "affinity" and len(first.candidates) == 2
    assert first.chosen == first.candidates[0]
    # remembered where it went last: that candidate keeps it
    warm = first.candidates[1]
    again = pick(bal, ring, key, idle(warm=warm), names=NAMES)
    assert (again.chosen, again.rule) == (warm, "affinity")


def test_past_the_slo_the_less_loaded_candidate_takes_the_prefix() -> None:
    ring, bal = DualRing(NAMES, 64), Balance(ttft_slo_s=1.0)
    first, second = pick(bal, ring, KEYS[3], idle()).candidates
    ttft = [0.1] * 4
    ttft[first] = 1.5
    busy = [0] * 4
    busy[first] = 1
    view = PoolView(tuple(busy), tuple(ttft), (1.0,) * 4)
    got = pick(bal, ring, KEYS[3], view, names=NAMES)
    assert (got.chosen, got.rule) == (second, "slo")
    assert "passes the 1s SLO" in got.why
    # within the SLO the warm replica keeps it, one request in flight or not
    view = PoolView(tuple(busy), (0.1,) * 4, (1.0,) * 4)
    assert pick(bal, ring, KEYS[3], view).chosen == first


def test_when_both_candidates_are_hotspots_the_least_loaded_replica_takes_it() -> None:
    ring, bal = DualRing(NAMES, 64), Balance()
    first, second = pick(bal, ring, KEYS[5], idle()).candidates
    busy = [0] * 4
    busy[first], busy[second] = 9, 8
    rest = [i for i in range(4) if i not in (first, second)]
    busy[rest[0]] = 1
    got = pick(bal, ring, KEYS[5], PoolView(tuple(busy), (0.1,) * 4, (1.0,) * 4), names=NAMES)
    assert (got.chosen, got.rule) == (rest[1], "hotspot")
    # prefix_hash does not relieve it
    only = pick(Balance(policy="prefix_hash"), ring, KEYS[5],
                PoolView(tuple(busy), (0.1,) * 4, (1.0,) * 4))  # fmt: skip
    assert only.chosen == first


def test_a_penalised_warm_replica_yields_to_its_healthier_partner() -> None:
    ring, bal = DualRing(NAMES, 64), Balance()
    first, second = pick(bal, ring, KEYS[9], idle()).candidates
    health = [1.0] * 4
    health[first] = 4.0  # a half-open breaker's penalty
    got = pick(bal, ring, KEYS[9], PoolView((0,) * 4, (0.1,) * 4, tuple(health)), names=NAMES)
    assert (got.chosen, got.rule) == (second, "load")
    assert "health factor 4" in got.why


def test_down_replicas_are_never_picked_and_none_left_means_no_pick() -> None:
    ring = DualRing(NAMES, 64)
    health = (math.inf, 1.0, math.inf, 1.0)
    for policy in ("dualmap", "prefix_hash", "least_loaded", "round_robin"):
        bal = Balance(policy=policy)  # type: ignore[arg-type]
        for i, k in enumerate(KEYS[:200]):
            view = PoolView((0,) * 4, (0.0,) * 4, health, turn=i)
            assert pick(bal, ring, k, view).chosen in (1, 3)
    gone = pick(Balance(), ring, KEYS[0], PoolView((0,) * 4, (0.0,) * 4, (math.inf,) * 4))
    assert (gone.chosen, gone.rule) == (None, "down")


def test_a_replica_that_failed_this_call_is_avoided_while_another_is_usable() -> None:
    ring, bal = DualRing(NAMES, 64), Balance()
    first = pick(bal, ring, KEYS[1], idle()).chosen
    assert first is not None
    assert pick(bal, ring, KEYS[1], idle(), frozenset({first})).chosen != first
    health = tuple(1.0 if i == first else math.inf for i in range(4))
    alone = pick(bal, ring, KEYS[1], PoolView((0,) * 4, (0.0,) * 4, health), frozenset({first}))
    assert (alone.chosen, alone.rule) == (first, "only")


def test_round_robin_and_least_loaded_baselines() -> None:
    ring = DualRing(NAMES, 64)
    rr = Balance(policy="round_robin")
    assert [pick(rr, ring, None, idle(turn=t)).chosen for t in range(6)] == [0, 1, 2, 3, 0, 1]
    ll = Balance(policy="least_loaded")
    view = PoolView((3, 1, 0, 2), (0.0,) * 4, (1.0,) * 4)
    assert pick(ll, ring, KEYS[0], view).chosen == 2
    view = PoolView((3, 1, 0, 2), (0.0,) * 4, (1.0, 1.0, 4.0, 1.0))  # 2 is penalised
    assert pick(ll, ring, KEYS[0], view).chosen == 1


def test_replica_names_and_pool_declarations() -> None:
    assert replica_names(["http://u:pw@h:8000/v1", "http://h:8001/v1"]) == ("h:8000", "h:8001")
    assert replica_names(["http://h:8000/a/v1", "http://h:8000/b/v1"]) == (
        "h:8000/a/v1",
        "h:8000/b/v1",
    )
    model = Model.openai_compatible(["http://h:1/v1/", "http://h:2/v1"], "m")
    assert model.replicas == ("http://h:1/v1", "http://h:2/v1")
    assert model.base_url == "http://h:1/v1" and model.replica(1).base_url == "http://h:2/v1"
    assert model.replica(1).label == model.label and not model.replica(1).replicas
    assert not Model.openai_compatible(["http://h:1/v1"], "m").replicas
    with pytest.raises(ConfigError, match="same replica twice"):
        Model.openai_compatible(["http://h:1/v1", "http://h:1/v1"], "m")
    with pytest.raises(ConfigError, match="http"):
        Model.openai_compatible(["http://h:1/v1", "h:2"], "m")
    with pytest.raises(ConfigError):
        Model.openai_compatible([], "m")
    with pytest.raises(ConfigError):
        Model.openai_compatible(["http://h:1/v1", "http://h:2/v1"], "m",
                                balance=Balance(ttft_slo_s=0))  # fmt: skip


def test_every_credential_of_every_replica_is_a_secret() -> None:
    model = Model.openai_compatible(["http://h:1/v1?key=one", "http://u:two@h:2/v1"], "m")
    assert {"one", "two"} <= set(model.secrets())
