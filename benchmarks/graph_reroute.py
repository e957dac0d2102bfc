"""Reroute latency: agentroute's incremental goal tree vs networkx Dijkstra from scratch.

One reroute = a node on the current path goes down: the reweighter updates the edges into it,
the goal tree repairs itself, and the new path is read off. The baseline runs networkx's own
``dijkstra_path`` on the same graph and weights, in the same process. Medians over trials.

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


def bench(n: int, trials: int, rng: random.Random) -> dict[str, float]:
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
        inner = plan.path[1:-1]
        if not inner:
            break
        victim = rng.choice(inner)
        t0 = time.perf_counter()
        tree.update(rw.apply({victim: math.inf}))
        new_plan = tree.path(g.start)
        t1 = time.perf_counter()
        weights = rw.weights  # the same dict object for every trial

        t2 = time.perf_counter()
        try:
            ref = nx.dijkstra_path(g.g, g.start, g.goal, weight=weight)
        except nx.NetworkXNoPath:
            ref = None
        t3 = time.perf_counter()
        if new_plan is not None and ref is not None:
            ref_cost = sum(weights[(u, v)] for u, v in itertools.pairwise(ref))
            assert math.isclose(new_plan.cost, ref_cost, rel_tol=1e-9), (new_plan, ref_cost)
        t4 = time.perf_counter()
        tree.path(g.start)
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
        "| nodes | edges | trials | agentroute reroute (median) | networkx dijkstra_path "
        "from scratch (median) | speed-up | path lookup, no change |"
    )
    print("|---|---|---|---|---|---|---|")
    for n, trials in ((50, 2000), (1000, 500), (10_000, 100)):
        r = bench(n, trials, rng)
        print(
            f"| {n} | {r['edges']:.0f} | {r['trials']:.0f} | {r['ours_us']:.1f} us | "
            f"{r['nx_us']:.1f} us | {r['nx_us'] / r['ours_us']:.1f}x | {r['lookup_us']:.1f} us |"
        )


if __name__ == "__main__":
    main()
