"""Reroute latency: agentroute's goal tree vs networkx Dijkstra from scratch.

One reroute = a node goes down: the reweighter updates the edges into it, the goal tree takes
the change, and the new path is read off. Two cases: "next hop" is what the runner does (the
task stands at a node on its path and the very next node fails; the path is recomputed from
there); "anywhere" fails a random node on the path and asks again from the start, a harder
case for the A* search. The baseline runs networkx's own ``dijkstra_path`` from the same node
on the same graph and weights, in the same process. Medians over trials.

    .venv/bin/python benchmarks/graph_reroute.py
"""

from __future__ import annotations

import itertools
import math
import platform
import random
import statistics
import time

import networkx as nx

from agentroute.graph import GoalTree, Reweighter, TaskGraph


def random_workflow(n: int, rng: random.Random, out_degree: int = 3) -> TaskGraph:
    edges = [(f"n{i}", f"n{i + 1}", 10.0) for i in range(n - 1)]
    for i in range(n - 1):
        for _ in range(out_degree):
            j = rng.randint(i + 1, min(n - 1, i + 1 + max(3, n // 20)))
            if j != i + 1:
                edges.append((f"n{i}", f"n{j}", rng.uniform(1.0, 10.0)))
    return TaskGraph(edges, start="n0", goal=f"n{n - 1}")


def bench(n: int, trials: int, rng: random.Random, *, next_hop: bool) -> dict[str, float]:
    g = random_workflow(n, rng)
    rw = Reweighter(g)

    def weight(u: str, v: str, _: object) -> float | None:
        w = rw.weights[(u, v)]
        return None if math.isinf(w) else w

    tree = GoalTree(g, g.goal, rw.weights)
    ours: list[float] = []
    theirs: list[float] = []
    lookups: list[float] = []
    for _ in range(trials):
        plan = tree.path(g.start)
        assert plan is not None
        if len(plan.path) < 3:
            break
        if next_hop:
            at = rng.randrange(0, len(plan.path) - 2)
            source, victim = plan.path[at], plan.path[at + 1]
        else:
            source, victim = g.start, rng.choice(plan.path[1:-1])
        t0 = time.perf_counter()
        tree.update(rw.apply({victim: math.inf}))
        new_plan = tree.path(source)
        t1 = time.perf_counter()
        weights = rw.weights  # the same dict object for every trial

        t2 = time.perf_counter()
        try:
            ref = nx.dijkstra_path(g.g, source, g.goal, weight=weight)
        except nx.NetworkXNoPath:
            ref = None
        t3 = time.perf_counter()
        if new_plan is not None and ref is not None:
            ref_cost = sum(weights[(u, v)] for u, v in itertools.pairwise(ref))
            assert math.isclose(new_plan.cost, ref_cost, rel_tol=1e-9), (new_plan, ref_cost)
        t4 = time.perf_counter()
        tree.path(source)
        lookups.append(time.perf_counter() - t4)
        ours.append(t1 - t0)
        theirs.append(t3 - t2)
        tree.update(rw.apply({}))  # the node recovers (not timed)
    return {
        "edges": g.g.number_of_edges(),
        "ours_us": statistics.median(ours) * 1e6,
        "nx_us": statistics.median(theirs) * 1e6,
        "lookup_us": statistics.median(lookups) * 1e6,
        "trials": len(ours),
    }


def main() -> None:
    rng = random.Random(7)
    print(
        f"# reroute latency, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, networkx {nx.__version__}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    print(
        "| failure | nodes | edges | trials | agentroute reroute (median) | networkx "
        "dijkstra_path from scratch (median) | speed-up | path lookup, no change |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for next_hop in (True, False):
        for n, trials in ((50, 2000), (1000, 500), (10_000, 100)):
            r = bench(n, trials, rng, next_hop=next_hop)
            print(
                f"| {'next hop' if next_hop else 'anywhere'} | {n} | {r['edges']:.0f} | "
                f"{r['trials']:.0f} | {r['ours_us']:.1f} us | {r['nx_us']:.1f} us | "
                f"{r['nx_us'] / r['ours_us']:.1f}x | {r['lookup_us']:.1f} us |"
            )


if __name__ == "__main__":
    main()
