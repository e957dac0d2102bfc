"""Model pools: one model served by several replicas, and which replica serves each call.

A replica that already holds a prompt's prefix in its KV cache answers it sooner (no prefill
for the shared part), so requests sharing a prefix should meet on the same replica; but a
popular prefix sent to one replica makes a hotspot while others idle. `pick` decides, per
attempt, from a snapshot of the pool (`PoolView`: requests in flight per replica, measured
time to first token, health factors) and returns the replica with its reasons. It is a pure
function: the engine's caller keeps the live state and hands it in, and a replay hands in the
state a trace recorded, so the decision is made again and compared.

The ``dualmap`` policy (after DualMap, "Enabling Both Cache Affinity and Load Balancing for
Distributed LLM Serving"):

- two independent hashes of the prompt's prefix name two candidate replicas, each on its own
  consistent-hash ring (`DualRing`), so adding or removing a replica moves only the keys
  whose arc it owned, and a replica that is down passes its keys to the next on each ring;
- the candidate that last served this prefix (else the first) keeps it while its measured
  TTFT is within the SLO, it is no hotspot and no less healthy than the other (affinity);
- past the SLO, the less loaded of the two candidates takes it (the power of two choices:
  distinct prefixes spread evenly, shared ones still land where one of two caches holds them);
- when even that one is a hotspot (more in flight than ``hot_ratio`` times the others' mean),
  the least loaded replica of the whole pool takes it (hotspot relief, at dispatch: a request
  already sent is not moved).

Baselines: ``prefix_hash`` (the first candidate only: affinity, no balance), ``least_loaded``
and ``round_robin``. Load is requests in flight, times the replica's health factor (a
half-open circuit breaker's penalty of 4 makes a replica look four times as busy); a replica
marked down is never picked; a replica that failed an earlier attempt of the same call is
avoided while another is usable. A hotspot is judged on requests in flight alone.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentroute.errors import ConfigError
from agentroute.types import Message

Policy = Literal["dualmap", "prefix_hash", "least_loaded", "round_robin"]
HASHED: frozenset[str] = frozenset({"dualmap", "prefix_hash"})
"""Policies that read the prompt's prefix."""


class Balance(BaseModel):
    """How a pooled model spreads its calls over its replicas. A frozen, printable value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: Policy = "dualmap"
    ttft_slo_s: float = Field(default=2.0, gt=0.0)
    """Time to first token a replica may show before affinity yields to load."""
    prefix_chars: int = Field(default=1024, ge=1)
    """How much of the prompt (its messages, in order) the affinity key covers: long enough
    to tell apart the prefixes your servers cache, short enough that requests sharing one
    share the key."""
    hot_ratio: float = Field(default=2.0, ge=1.0)
    """A replica with more than this many times the mean requests in flight of the others
    (each counted plus one) is a hotspot."""
    vnodes: int = Field(default=64, ge=1, le=4096)
    """Points per replica on each hash ring: more spread keys more evenly."""
    ewma: float = Field(default=0.3, gt=0.0, le=1.0)
    """Weight of the newest TTFT in each replica's running measure."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(f"invalid Balance: {exc}") from exc


def replica_names(urls: Sequence[str]) -> tuple[str, ...]:
    """What traces and health monitors call each replica: its host and port, or host, port
    and path where two replicas share a host and port (credentials never appear)."""
    parts = [urlsplit(u) for u in urls]
    hosts = [p.hostname or "" for p in parts]
    netlocs = [f"{h}:{p.port}" if p.port else h for h, p in zip(hosts, parts, strict=True)]
    names = (
        netlocs
        if len(set(netlocs)) == len(netlocs)
        else [n + p.path.rstrip("/") for n, p in zip(netlocs, parts, strict=True)]
    )
    if len(set(names)) != len(names):
        raise ConfigError(f"a pool lists the same replica twice: {list(urls)}")
    return tuple(names)


def _point(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def prefix_key(messages: Sequence[Message], chars: int) -> tuple[int, int, str]:
    """Two independent 64-bit hashes of the prompt's first ``chars`` characters (roles and
    contents in order), and a short hex form of them for the trace."""
    parts: list[str] = []
    left = chars
    for m in messages:  # each message cut before it is copied: a long history costs nothing
        piece = f"{m.role}\x1f{m.content[:left]}\x1e"[:left]
        parts.append(piece)
        left -= len(piece)
        if left <= 0:
            break
    digest = hashlib.blake2b("".join(parts).encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big"), digest.hex()[:16]


class DualRing:
    """Two consistent-hash rings over the same replicas, laid out by independent hashes:
    a key's owner on each ring is the first replica point at or after the key's point."""

    def __init__(self, names: Sequence[str], vnodes: int) -> None:
        self.size = len(names)
        self._rings: list[tuple[list[int], list[int]]] = []
        for seed in (b"first", b"second"):
            points = sorted(
                (_point(seed + b"|" + name.encode() + b"|" + str(v).encode()), i)
                for i, name in enumerate(names)
                for v in range(vnodes)
            )
            self._rings.append(([p for p, _ in points], [i for _, i in points]))

    def owner(self, ring: int, key: int, usable: Iterable[int]) -> int | None:
        """The first replica clockwise from ``key`` on ``ring`` among ``usable``."""
        allowed = set(usable)
        if not allowed:
            return None
        points, owners = self._rings[ring]
        start = bisect.bisect_left(points, key)
        n = len(points)
        for step in range(n):
            i = owners[(start + step) % n]
            if i in allowed:
                return i
        return None  # pragma: no cover - every replica has points on every ring


@dataclass(frozen=True)
class PoolView:
    """The pool as one pick sees it: per replica (in declared order) the requests in flight,
    the measured TTFT (0 before any), the health factor (1 healthy, more when penalised,
    infinity when down); which replica last served this prefix; the round-robin turn."""

    in_flight: tuple[int, ...]
    ttft_s: tuple[float, ...]
    health: tuple[float, ...]
    warm: int | None = None
    turn: int = 0


@dataclass(frozen=True)
class Pick:
    """A replica (None: none is usable), the candidates weighed, the rule that decided
    (``affinity``, ``slo``, ``load``, ``hotspot``, ``prefix_hash``, ``least_loaded``,
    ``round_robin``, ``only``, ``down``) and why, in words."""

    chosen: int | None
    candidates: tuple[int, ...]
    rule: str
    why: str


def pick(
    balance: Balance,
    ring: DualRing,
    key: tuple[int, int] | None,
    view: PoolView,
    avoid: frozenset[int] = frozenset(),
    names: Sequence[str] | None = None,
) -> Pick:
    """Which replica serves this attempt. ``key``: the prefix's two hashes (hash policies);
    ``avoid``: replicas that failed earlier attempts of this call (avoided while another is
    usable); ``names``: for the reasons' words."""
    n = ring.size
    label = names or [str(i) for i in range(n)]
    healthy = [i for i in range(n) if view.health[i] != math.inf]
    usable = [i for i in healthy if i not in avoid] or healthy
    if not usable:
        return Pick(None, (), "down", "every replica is down")
    if len(usable) == 1:
        only = usable[0]
        return Pick(only, (only,), "only", f"{label[only]} is the only usable replica")

    def load(i: int) -> float:
        return (view.in_flight[i] + 1) * view.health[i]

    if balance.policy == "round_robin":
        turn = view.turn % n
        chosen = min(usable, key=lambda i: (i - turn) % n)
        return Pick(chosen, tuple(usable), "round_robin", f"turn {view.turn}: {label[chosen]}")
    if balance.policy == "least_loaded" or key is None:
        chosen = min(usable, key=lambda i: (load(i), view.ttft_s[i], i))
        return Pick(
            chosen, tuple(usable), "least_loaded",
            f"{label[chosen]} has the least load ({view.in_flight[chosen]} in flight)",
        )  # fmt: skip
    first = ring.owner(0, key[0], usable)
    assert first is not None
    if balance.policy == "prefix_hash":
        return Pick(first, (first,), "prefix_hash", f"{label[first]} owns this prefix")
    second = ring.owner(1, key[1], [i for i in usable if i != first])
    assert second is not None
    return _dual(balance, view, usable, (first, second), load, label)


def _dual(
    balance: Balance,
    view: PoolView,
    usable: list[int],
    pair: tuple[int, int],
    load: Callable[[int], float],
    label: Sequence[str],
) -> Pick:
    """DualMap's choice between the two candidates (see the module's docstring)."""
    first, second = pair
    warm = view.warm if view.warm in pair else first
    other = second if warm == first else first
    total = sum(view.in_flight[i] for i in usable)
    mean = total / len(usable)

    def hot(i: int) -> bool:  # against the mean of the other usable replicas
        others = (total - view.in_flight[i]) / (len(usable) - 1)
        return view.in_flight[i] + 1 > balance.hot_ratio * (others + 1)

    ttft, health = view.ttft_s[warm], view.health[warm]
    if ttft <= balance.ttft_slo_s and not hot(warm) and health <= view.health[other]:
        held = "served this prefix last" if view.warm == warm else "owns this prefix"
        return Pick(warm, pair, "affinity",
                    f"{label[warm]} {held}; TTFT {ttft:.3g}s within the "
                    f"{balance.ttft_slo_s:g}s SLO")  # fmt: skip
    better = min((warm, other), key=lambda i: (load(i), i != warm))
    if not hot(better):
        rule = "slo" if ttft > balance.ttft_slo_s else "load"
        if rule == "slo":
            cause = f"TTFT {ttft:.3g}s passes the {balance.ttft_slo_s:g}s SLO"
        elif hot(warm):
            cause = f"a hotspot ({view.in_flight[warm]} in flight, pool mean {mean:.3g})"
        else:
            cause = f"health factor {health:.3g} against {view.health[other]:.3g}"
        return Pick(better, pair, rule,
                    f"{label[warm]}: {cause}; {label[better]} is the less loaded candidate "
                    f"({view.in_flight[better]} in flight)")  # fmt: skip
    relief = min(usable, key=lambda i: (load(i), view.ttft_s[i], i))
    return Pick(relief, pair, "hotspot",
                f"both candidates are hotspots ({view.in_flight[first]} and "
                f"{view.in_flight[second]} in flight, pool mean {mean:.3g}); "
                f"{label[relief]} is the least loaded replica")  # fmt: skip
