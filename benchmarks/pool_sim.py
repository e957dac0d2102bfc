"""Model pools at scale, simulated: 8 to 64 replicas, thousands of requests per second, each
policy's capacity under a time-to-first-token SLO.

The picks are agentroute's own: every request goes through `agentroute.models.pool.pick` on
the live state a `agentroute.engine.serving.Pool` keeps (requests in flight, measured TTFT,
where each prefix went last), exactly as the engine's caller does; only the replicas are
simulated. A replica serves ``--slots`` requests at once, first come first served, and keeps
the KV cache of its ``--cache`` most recently used prefixes. A request's prefill takes the
measured time with its prefix cached or not, its decode the measured time per token
(``benchmarks/data/pool_service_times.json``, written by ``pool_local.py`` on one CPU
thread), all divided by ``--speedup`` (a GPU replica is taken to be that much faster than
one CPU thread: a stated assumption, not a measurement). Requests arrive as a Poisson
process; each carries one of ``8 x replicas`` prefixes (a tenant's system prompt), drawn
Zipf-skewed, and asks for ``--tokens`` output tokens.

Capacity: the highest arrival rate whose p90 TTFT stays within the SLO (bisection, each
point a fresh simulation of ``--requests`` requests, the first tenth not counted).

``--clients K`` splits the requests over K client processes, each with its own `Pool` (its
own requests in flight, its own memory of prefixes), as K agentroute processes sharing the
replicas would. ``--foreign F``: a share F of the requests comes from a client that does not
use agentroute and sends everything to the first quarter of the replicas in turn (another
team's job); only agentroute's requests are counted. ``--server-load S`` is an experiment,
not a library feature: each client also reads the replicas' true load (requests running and
queued, as vLLM's ``/metrics`` reports them) every S seconds and counts a replica's requests
in flight as the larger of its own count and that report moved on by its own sends and
finishes since the read (see BENCHMARKS.md for why agentroute does not do this).

    .venv/bin/python benchmarks/pool_sim.py [--replicas 8,16,32,64] [--speedup 100]
        [--clients 4 --server-load 0.05 --policies least_loaded,dualmap]
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from pathlib import Path

from agentroute.engine.serving import Pool
from agentroute.models import Balance, Model
from agentroute.models.pool import pick, prefix_key
from agentroute.types import Message

HERE = Path(__file__).resolve().parent
POLICIES = ("round_robin", "least_loaded", "prefix_hash", "dualmap")


@dataclass(frozen=True)
class Times:
    miss_s: float
    hit_s: float
    decode_s: float

    @classmethod
    def load(cls, path: Path, speedup: float) -> Times:
        data = json.loads(path.read_text())
        return cls(data["miss_ttft_s"] / speedup, data["hit_ttft_s"] / speedup,
                   data["decode_s_per_token"] / speedup)  # fmt: skip


class Replica:
    """``slots`` servers sharing one FIFO queue and one LRU of cached prefixes."""

    def __init__(self, slots: int, cache: int) -> None:
        self.free = slots
        self.queue: deque[tuple[int, float]] = deque()
        self.cache: OrderedDict[int, None] = OrderedDict()
        self.size = cache

    def prefill_hit(self, prefix: int) -> bool:
        hit = prefix in self.cache
        self.cache[prefix] = None
        self.cache.move_to_end(prefix)
        if len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return hit


def simulate(
    policy: str, n: int, rate: float, requests: int, times: Times, *, slots: int, cache: int,
    tokens: int, slo: float, zipf: float, seed: int = 1, clients: int = 1,
    server_load: float | None = None, foreign: float = 0.0,
) -> tuple[float, float, float]:  # fmt: skip
    """One run: (p50 TTFT, p90 TTFT, cache hit rate) of the counted requests."""
    urls = [f"http://replica{i}:8000/v1" for i in range(n)]
    balance = Balance(policy=policy, ttft_slo_s=slo)  # type: ignore[arg-type]
    model = Model.openai_compatible(urls, "m", balance=balance)
    pools = [Pool(model) for _ in range(clients)]
    read_at = [-1.0] * clients
    reports = [([0] * n, [0] * n) for _ in range(clients)]  # (server loads, own then)
    health = (1.0,) * n
    rng = random.Random(seed)
    groups = 8 * n
    weights = [1 / (g + 1) ** zipf for g in range(groups)]
    keys = [prefix_key([Message.system(f"tenant {g} " * 40)], 1024) for g in range(groups)]
    replicas = [Replica(slots, cache) for _ in range(n)]
    events: list[tuple[float, int, int, int]] = []  # (time, order, kind, request)
    order = 0
    prefix_of: list[int] = []
    outside: list[bool] = []  # sent by the foreign client
    arrived: list[float] = []
    ttft: list[float] = [0.0] * requests
    hits = 0
    now = 0.0
    for r in range(requests):
        now += rng.expovariate(rate)
        arrived.append(now)
        prefix_of.append(rng.choices(range(groups), weights)[0])
        outside.append(foreign > 0 and rng.random() < foreign)
        heapq.heappush(events, (now, order, 0, r))
        order += 1
    where = [0] * requests

    def begin(i: int, r: int, at: float) -> None:
        nonlocal order, hits
        rep = replicas[i]
        rep.free -= 1
        hit = rep.prefill_hit(prefix_of[r])
        hits += int(hit and r >= requests // 10 and not outside[r])
        prefill = times.hit_s if hit else times.miss_s
        ttft[r] = at + prefill - arrived[r]
        heapq.heappush(events, (at + prefill + tokens * times.decode_s, order, 1, r))
        order += 1

    def engine_pick(r: int, at: float) -> int:
        """The engine's pick on the live state of request ``r``'s client."""
        c = r % clients
        pool = pools[c]
        key = keys[prefix_of[r]]
        hashed = key[:2] if pool.hashed else None
        view = pool.view(key[0], health)
        if server_load is not None:
            if at - read_at[c] >= server_load:  # what each replica's /metrics says now
                read_at[c] = at
                reports[c] = (
                    [slots - x.free + len(x.queue) for x in replicas],
                    list(pool.in_flight),
                )
            said, then = reports[c]
            seen = [max(f, s + f - t) for f, s, t in zip(view.in_flight, said, then, strict=True)]
            view = replace(view, in_flight=tuple(seen))
        chosen = pick(model.balance, pool.ring, hashed, view).chosen
        assert chosen is not None
        pool.sent(chosen, key[0])
        return chosen

    while events:
        at, _, kind, r = heapq.heappop(events)
        if kind == 0:  # arrival; the foreign client takes the first quarter in turn
            chosen = r % max(1, n // 4) if outside[r] else engine_pick(r, at)
            where[r] = chosen
            rep = replicas[chosen]
            if rep.free:
                begin(chosen, r, at)
            else:
                rep.queue.append((r, at))
        else:  # done: the slot takes the next in line
            i = where[r]
            if not outside[r]:
                pools[r % clients].done(i, ttft[r])
            rep = replicas[i]
            rep.free += 1
            if rep.queue:
                nxt, _ = rep.queue.popleft()
                begin(i, nxt, at)
    counted = sorted(ttft[r] for r in range(requests // 10, requests) if not outside[r])
    m = len(counted)
    return counted[m // 2], counted[int(0.9 * (m - 1))], hits / m


def run(
    policy: str, n: int, rate: float, times: Times, args: argparse.Namespace, slo: float
) -> tuple[float, float, float]:
    return simulate(policy, n, rate, args.requests, times, slots=args.slots, cache=args.cache,
                    tokens=args.tokens, slo=slo, zipf=args.zipf, clients=args.clients,
                    server_load=args.server_load, foreign=args.foreign)  # fmt: skip


def capacity(policy: str, n: int, times: Times, args: argparse.Namespace, slo: float) -> float:
    """The highest rate (requests per second) whose p90 TTFT is within ``slo``."""
    service = times.hit_s + args.tokens * times.decode_s
    lo, hi = 0.0, 2.0 * n * args.slots / service  # past every replica's saturation
    while hi - lo > 0.01 * hi:
        mid = (lo + hi) / 2
        _, p90, _ = run(policy, n, mid, times, args, slo)
        lo, hi = (mid, hi) if p90 <= slo else (lo, mid)
    return lo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", default="8,16,32,64")
    ap.add_argument("--speedup", type=float, default=100.0)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--cache", type=int, default=8, help="prefixes a replica keeps cached")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--zipf", type=float, default=1.0)
    ap.add_argument("--requests", type=int, default=12000)
    ap.add_argument("--slo-x", type=float, default=2.5,
                    help="the TTFT SLO, in multiples of one uncached prefill")  # fmt: skip
    ap.add_argument("--times", default=str(HERE / "data" / "pool_service_times.json"))
    ap.add_argument("--clients", type=int, default=1, help="client processes, each its own pool")
    ap.add_argument("--server-load", type=float, default=None,
                    help="read the replicas' true load every this many seconds")  # fmt: skip
    ap.add_argument("--foreign", type=float, default=0.0,
                    help="share of requests from a client outside agentroute")  # fmt: skip
    ap.add_argument("--policies", default=",".join(POLICIES))
    args = ap.parse_args()
    policies = tuple(args.policies.split(","))
    times = Times.load(Path(args.times), args.speedup)
    slo = args.slo_x * times.miss_s
    print(f"service (after /{args.speedup:g}): prefill {1000 * times.miss_s:.1f} ms uncached, "
          f"{1000 * times.hit_s:.2f} ms cached, decode {1000 * times.decode_s:.3f} ms/token x "
          f"{args.tokens}; {args.slots} slots and {args.cache} cached prefixes per replica; "
          f"TTFT SLO {1000 * slo:.0f} ms (p90)\n")  # fmt: skip
    sizes = [int(x) for x in args.replicas.split(",")]
    began = time.perf_counter()
    print(f"{args.clients} client(s); server load read every {args.server_load} s; "
          f"{args.foreign:.0%} of requests from a client outside agentroute\n")  # fmt: skip
    caps = {n: {p: capacity(p, n, times, args, slo) for p in policies} for n in sizes}
    print("| replicas | " + " | ".join(policies) + " | dualmap / best other |")
    print("|---|" + "---|" * (len(policies) + 1))
    for n in sizes:
        best = max((v for p, v in caps[n].items() if p != "dualmap"), default=0.0)
        ratio = f"{caps[n]['dualmap'] / best:.2f}x" if best and "dualmap" in caps[n] else "-"
        print(f"| {n} | " + " | ".join(f"{caps[n][p]:.0f} rps" for p in policies)
              + f" | {ratio} |")  # fmt: skip
    n = sizes[-1]
    base = "least_loaded" if "least_loaded" in caps[n] else max(caps[n], key=caps[n].__getitem__)
    load = 0.8 * caps[n][base]
    print(f"\nat {load:.0f} rps on {n} replicas (80% of {base}'s capacity):")
    print("| policy | TTFT p50 ms | TTFT p90 ms | prefix cache hits |\n|---|---|---|---|")
    for p in policies:
        p50, p90, hit = run(p, n, load, times, args, slo)
        print(f"| {p} | {1000 * p50:.1f} | {1000 * p90:.1f} | {100 * hit:.0f}% |")
    print(f"\nsimulated in {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
