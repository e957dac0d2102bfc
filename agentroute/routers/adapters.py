"""Adapter routing: which LoRA adapter serves a call, and which adapters stay resident.

After POLAR ("Online Learning for LoRA Adapter Caching and Routing in Edge LLM Serving"). A
server offers a library of adapters but keeps only ``capacity`` of them in fast memory; a
call routed to a cold one first waits for its weights to be paged in. Two decisions on two
timescales, learned together:

- per call: a LinUCB bandit (`agentroute.routers.bandit.LinUCBRouter`, one arm per adapter)
  bounds each adapter's quality on this query from its features, and the choice charges a
  cold adapter its paging: ``net = bound - paging_weight * paging_s`` (resident: no charge).
  `choose_adapter` is that rule, a pure function of the bounds and the cache;
- per epoch: the controller keeps resident the ``capacity`` adapters that would have served
  the epoch's queries best by the current estimates: greedily, the set maximising the sum
  over those queries of the best net estimate (a resident adapter, or a cold one with its
  paging paid).

Exploring is the routing's part: the bound's width, and an adapter not tried ``explore``
times yet is tried without charging its paging (a small ``alpha`` alone may never pay to try
a cold adapter).

The two are coupled: the cache sets what exploring a cold adapter costs (it is tried only when
its bound beats its paging), and routing decides which adapters get feedback.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from agentroute.errors import ConfigError, RoutingError
from agentroute.routers.bandit import Features, LinUCBRouter, query_features


@dataclass(frozen=True)
class AdapterChoice:
    """The adapter chosen; each adapter's bound and its net score (less paging when cold);
    the cache the choice assumed and the cold adapters explored at no charge; whether the
    adapter must be paged in, for how long; why."""

    chosen: str
    bounds: dict[str, float]
    net: dict[str, float]
    resident: tuple[str, ...]
    waived: tuple[str, ...]
    paged: bool
    paging_s: float
    reason: str


def choose_adapter(
    bounds: Mapping[str, float],
    resident: Collection[str],
    paging: Mapping[str, float],
    paging_weight: float,
    waived: Collection[str] = (),
) -> AdapterChoice:
    """The adapter with the best bound net of paging (a resident one wins a tie; then the
    order of ``bounds``). ``waived``: cold adapters whose paging is not charged (not tried
    enough yet: exploring them is worth a page-in)."""
    if not bounds:
        raise RoutingError("no adapter to choose from")
    free = set(resident) | set(waived)
    net = {a: b - (0.0 if a in free else paging_weight * paging[a]) for a, b in bounds.items()}
    best = max(net, key=lambda a: (net[a], a in resident))
    cold = best not in resident
    if not cold:
        why = f"{best} is resident; net bound {net[best]:.3f}"
    elif best in waived:
        why = f"{best} is cold and not tried enough yet: explored, its paging accepted"
    else:
        why = (f"{best} is cold but its bound {bounds[best]:.3f} beats the best resident "
               f"adapter even after {paging[best]:.3g}s of paging")  # fmt: skip
    return AdapterChoice(best, dict(bounds), net, tuple(resident), tuple(waived), cold,
                         paging[best] if cold else 0.0, why)  # fmt: skip


def plan_cache(
    means: Sequence[Mapping[str, float]],
    capacity: int,
    paging: Mapping[str, float],
    paging_weight: float,
    keep: Collection[str] = (),
) -> tuple[str, ...]:
    """The ``capacity`` adapters to keep resident for queries whose value per adapter are
    ``means`` (estimates or bounds): greedy on the sum of each query's best net value (a
    resident adapter as is, a cold one less its paging). Ties keep what is resident
    (``keep``), then the adapters' order."""
    names = list(means[0]) if means else list(paging)
    order = {a: i for i, a in enumerate(names)}
    chosen: list[str] = []
    for _ in range(min(capacity, len(names))):

        def value(extra: str) -> float:
            cache = {*chosen, extra}
            total = 0.0
            for m in means:
                inside = max(m[a] for a in cache)
                outside = max((m[a] - paging_weight * paging[a] for a in m if a not in cache),
                              default=-math.inf)  # fmt: skip
                total += max(inside, outside)
            return total

        rest = [a for a in names if a not in chosen]
        chosen.append(max(rest, key=lambda a: (value(a), a in keep, -order[a])))
    return tuple(chosen)


class AdapterRouter:
    """Cache-aware adapter routing with an epoch controller (see the module's docstring).

    `choose` picks for a query and counts it toward the epoch; `observe` learns the quality
    (0..1) an adapter earned. ``explore``: an adapter with fewer observations than this is
    chosen without charging its paging (forced exploration: otherwise a small ``alpha`` may
    never pay to try a cold adapter). ``doubling``: each epoch lasts twice as long as the last
    (the epoch-doubling variant), so the cache settles as estimates do."""

    def __init__(
        self,
        names: Sequence[str],
        capacity: int,
        paging: Mapping[str, float],
        *,
        epoch: int = 64,
        alpha: float = 0.5,
        paging_weight: float = 1.0,
        features: Features = query_features,
        doubling: bool = False,
        resident: Sequence[str] | None = None,
        explore: int = 1,
    ) -> None:
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"adapters must be named, each once: {list(names)}")
        if not 1 <= capacity <= len(names) or epoch < 1 or paging_weight < 0:
            raise ConfigError("need 1 <= capacity <= adapters, epoch >= 1, paging_weight >= 0")
        if set(paging) != set(names):
            raise ConfigError("paging must give each adapter's seconds")
        self.names = tuple(names)
        self.capacity = capacity
        self.paging = dict(paging)
        self.paging_weight = paging_weight
        self.bandit = LinUCBRouter(alpha=alpha, features=features, name="adapters")
        self.resident: tuple[str, ...] = tuple(resident or self.names[:capacity])
        self.epoch = epoch
        self.doubling = doubling
        self.epochs = 0
        self.explore = explore
        self.pulls = dict.fromkeys(self.names, 0)
        self._queries: list[str] = []

    @property
    def untried(self) -> tuple[str, ...]:
        """Adapters observed fewer than ``explore`` times."""
        return tuple(a for a in self.names if self.pulls[a] < self.explore)

    def bounds(self, query: str) -> dict[str, float]:
        """Each adapter's upper confidence bound on its quality for ``query``."""
        return self.bandit.ucb(query, self.names)

    def choose(self, query: str) -> AdapterChoice:
        """The adapter for ``query`` under the current cache; the query counts toward the
        epoch, and the cache is planned again when the epoch is full."""
        choice = choose_adapter(self.bounds(query), self.resident, self.paging,
                                self.paging_weight, self.untried)  # fmt: skip
        self._queries.append(query)
        if len(self._queries) >= self.epoch:
            self.end_epoch()
        return choice

    def observe(self, query: str, adapter: str, quality: float) -> None:
        """Learn that ``adapter`` earned ``quality`` on ``query`` (paging is known, so it is
        charged at choice time and never learned)."""
        if adapter not in self.paging:
            raise RoutingError(f"unknown adapter {adapter!r}")
        self.bandit.observe(query, adapter, quality)
        self.pulls[adapter] += 1

    def end_epoch(self) -> tuple[str, ...]:
        """Plan the cache from the epoch's queries, by the estimates (exploring is the
        routing's part) and start the next epoch."""
        means = [
            {a: mean for a, (mean, _) in self.bandit.estimates(q, self.names).items()}
            for q in self._queries
        ]
        if means:
            self.resident = plan_cache(means, self.capacity, self.paging, self.paging_weight,
                                       keep=self.resident)  # fmt: skip
        self._queries = []
        self.epochs += 1
        if self.doubling:
            self.epoch *= 2
        return self.resident
