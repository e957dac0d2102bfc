"""Adapter routing against a simulated LoRA library: regret and cache hit rate of the
cache-aware bandit with its epoch controller (`agentroute.routers.adapters`), next to a
fixed cache, a cache-oblivious bandit with an LRU cache, and an oracle.

The library (stated, not measured): 15 adapters, 12 task types. A query's context is its
task type's centroid (6 numbers, seeded) plus noise, with a bias term. Twelve adapters are
specialists, one per task type, their quality falling off linearly away from their type; three
are generalists of middling quality. Quality is observed with noise (sd 0.05). Paging a cold
adapter in costs 0.1 to 0.6 s (seeded per adapter), charged at ``--paging-weight`` reward
per second; ``--capacity`` adapters fit in fast memory. Task types are Zipf-popular, and the
popularity order is shuffled halfway through (a shift the cache must follow).

Policies, all on the same query stream:

- ``polar``: `AdapterRouter` (cache-aware LinUCB, epoch controller, forced exploration);
- ``polar+doubling``: the same with doubling epochs;
- ``fixed cache``: the same router, but the cache is never planned again: either what the
  oracle would pick for the first half (a generous fixed cache) or the first adapters
  declared (a naive one);
- ``lru``: LinUCB ignoring paging, the cache an LRU of what it chose;
- ``oracle``: true qualities, the best cache for each half, the best adapter per query.

Regret is the oracle's expected reward less the policy's, summed over queries (expected
rewards: the noise is left out). Hit rate: the share of queries served by a resident
adapter.

    .venv/bin/python benchmarks/adapter_sim.py [--queries 20000] [--capacity 4]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from agentroute.routers.adapters import AdapterRouter, choose_adapter, plan_cache
from agentroute.routers.bandit import LinUCBRouter

TYPES, DIM = 12, 6


class Library:
    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.centroids = []
        for _ in range(TYPES):
            v = [rng.gauss(0, 1) for _ in range(DIM)]
            norm = math.sqrt(sum(x * x for x in v))
            self.centroids.append([x / norm for x in v])
        self.names = [f"spec{t}" for t in range(TYPES)] + ["gen0", "gen1", "gen2"]
        self.paging = {a: round(rng.uniform(0.1, 0.6), 3) for a in self.names}
        self.generalist = {"gen0": 0.55, "gen1": 0.6, "gen2": 0.5}

    def quality(self, adapter: str, x: Sequence[float]) -> float:
        """The true expected quality of ``adapter`` on context ``x`` (linear in ``x``)."""
        if adapter in self.generalist:
            return self.generalist[adapter]
        c = self.centroids[int(adapter[4:])]
        return max(0.0, min(1.0, 0.45 + 0.5 * sum(a * b for a, b in zip(c, x[1:], strict=True))))


def stream(lib: Library, n: int, seed: int) -> list[tuple[int, list[float]]]:
    """``n`` queries: (task type, context); Zipf popularity, reshuffled halfway."""
    rng = random.Random(seed)
    weights = [1 / (r + 1) for r in range(TYPES)]
    orders = [rng.sample(range(TYPES), TYPES), rng.sample(range(TYPES), TYPES)]
    out = []
    for i in range(n):
        order = orders[0] if i < n // 2 else orders[1]
        t = order[rng.choices(range(TYPES), weights)[0]]
        x = [1.0, *(c + rng.gauss(0, 0.15) for c in lib.centroids[t])]
        out.append((t, x))
    return out


Step = Callable[[str, list[float]], tuple[str, bool]]
"""A policy: (query id, context) -> (adapter, was it resident); it learns on its own."""


def run(
    lib: Library, queries: list[tuple[int, list[float]]], step: Step, weight: float,
    start: int = 0,
) -> tuple[float, float, float]:  # fmt: skip
    """(expected reward, hit rate, mean paging s) over the queries (numbered from ``start``)."""
    reward = hits = paging = 0.0
    for i, (_, x) in enumerate(queries, start):
        adapter, resident = step(f"q{i}", x)
        cost = 0.0 if resident else lib.paging[adapter]
        reward += lib.quality(adapter, x) - weight * cost
        hits += resident
        paging += cost
    n = len(queries)
    return reward, hits / n, paging / n


def best_cache(lib: Library, contexts: list[list[float]], k: int, weight: float) -> tuple[str, ...]:
    means = [{a: lib.quality(a, x) for a in lib.names} for x in contexts]
    return plan_cache(means, k, lib.paging, weight)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=20000)
    ap.add_argument("--capacity", type=int, default=4)
    ap.add_argument("--paging-weight", type=float, default=0.5)
    ap.add_argument("--epoch", type=int, default=64)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    lib = Library(args.seed)
    queries = stream(lib, args.queries, args.seed + 1)
    contexts = {f"q{i}": x for i, (_, x) in enumerate(queries)}
    k, w = args.capacity, args.paging_weight
    half = args.queries // 2
    sample = [x for _, x in queries[:half:25]], [x for _, x in queries[half::25]]
    oracle_cache = best_cache(lib, sample[0], k, w), best_cache(lib, sample[1], k, w)
    rng = random.Random(args.seed + 2)

    def noisy(adapter: str, x: list[float]) -> float:
        return lib.quality(adapter, x) + rng.gauss(0, 0.05)

    def features(query: str) -> list[float]:
        return contexts[query]

    def bandit_step(router: AdapterRouter) -> Step:
        def step(q: str, x: list[float]) -> tuple[str, bool]:
            choice = router.choose(q)
            router.observe(q, choice.chosen, noisy(choice.chosen, x))
            return choice.chosen, not choice.paged

        return step

    def router(**kw: object) -> AdapterRouter:
        options: dict[str, object] = {"epoch": args.epoch, "alpha": args.alpha,
                                      "paging_weight": w, "features": features, **kw}  # fmt: skip
        return AdapterRouter(lib.names, k, lib.paging, **options)  # type: ignore[arg-type]

    fixed = router(resident=oracle_cache[0], epoch=10**9)
    naive = router(resident=lib.names[:k], epoch=10**9)
    ucb = LinUCBRouter(alpha=args.alpha, features=features)
    lru: OrderedDict[str, None] = OrderedDict((a, None) for a in lib.names[:k])

    def lru_step(q: str, x: list[float]) -> tuple[str, bool]:
        bounds = ucb.ucb(q, lib.names)
        adapter = max(bounds, key=lambda a: bounds[a])
        resident = adapter in lru
        lru[adapter] = None
        lru.move_to_end(adapter)
        if len(lru) > k:
            lru.popitem(last=False)
        ucb.observe(q, adapter, noisy(adapter, x))
        return adapter, resident

    def oracle_step(q: str, x: list[float]) -> tuple[str, bool]:
        cache = oracle_cache[0] if int(q[1:]) < half else oracle_cache[1]
        truth = {a: lib.quality(a, x) for a in lib.names}
        choice = choose_adapter(truth, cache, lib.paging, w)
        return choice.chosen, not choice.paged

    policies: dict[str, Step] = {
        "oracle": oracle_step,
        "polar": bandit_step(router()),
        "polar+doubling": bandit_step(router(doubling=True)),
        "fixed cache (the oracle's first-half cache)": bandit_step(fixed),
        "fixed cache (the first adapters declared)": bandit_step(naive),
        "lru (cache-oblivious)": lru_step,
    }
    print(f"{len(lib.names)} adapters, capacity {k}, paging {min(lib.paging.values()):.2f}-"
          f"{max(lib.paging.values()):.2f} s at {w} reward/s, {args.queries} queries, "
          f"popularity shifted at {half}\n")  # fmt: skip
    print(
        "| policy | mean reward | regret vs oracle | regret, last 20% | hit rate | "
        "paging s/query |\n|---|---|---|---|---|---|"
    )
    began = time.perf_counter()
    tail = args.queries // 5
    base: tuple[float, float] | None = None
    for name, step in policies.items():
        total, hit, paging = run(lib, queries[:-tail], step, w)
        last, hit_last, paging_last = run(lib, queries[-tail:], step, w, args.queries - tail)
        if base is None:
            base = total, last
        n = args.queries
        regret, regret_last = base[0] + base[1] - total - last, base[1] - last
        hits = (hit * (n - tail) + hit_last * tail) / n
        paged = (paging * (n - tail) + paging_last * tail) / n
        print(f"| {name} | {(total + last) / n:.3f} | {round(regret)} | {round(regret_last)} "
              f"| {100 * hits:.0f}% | {paged:.3f} |", flush=True)  # fmt: skip
    print(f"\nsimulated in {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
