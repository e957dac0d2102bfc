"""Orchestration overhead per step, without model time, next to LangGraph doing one
conditional step, in the same process and run.

agentroute step: the health monitors (circuit breaker and latency) run concurrently, the graph
is reweighted from their signals, the goal tree gives the path, the ledger reserves and settles
the step's cost, the node runs (an instant handler) and every decision is a trace event. The
graph is a 50-node random workflow (`--nodes`). LangGraph step: a compiled `StateGraph` whose
one node loops back on itself through a conditional edge, no checkpointer. Both report the
median over runs of (run time / steps).

    .venv/bin/python benchmarks/step_overhead.py [--nodes 50] [--runs 300] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import time
from typing import Any, TypedDict

from graph_reroute import random_workflow

from agentroute.budget import Budget, Ledger
from agentroute.health import CircuitBreakerMonitor, LatencyMonitor
from agentroute.models.model import Price
from agentroute.runtime import GraphRunner, NodeContext

PRICE = Price(input_per_mtok=1.0, output_per_mtok=2.0)


def agentroute_runner(nodes: int, seed: int = 0, monitors: int = 2) -> tuple[GraphRunner, Ledger]:
    graph = random_workflow(nodes, random.Random(seed))
    ledger = Ledger(Budget(usd=1e9))

    def handler(ctx: NodeContext) -> str:
        res = ledger.reserve("m", PRICE, 100, 50)
        ledger.settle(res, PRICE, None)
        return "ok"

    handlers = {n: handler for n in graph.nodes if n != graph.start}
    watch: list[Any] = [CircuitBreakerMonitor(), LatencyMonitor()]
    watch += [LatencyMonitor(name=f"latency{i}") for i in range(monitors - 2)]
    return GraphRunner(graph, handlers, monitors=watch[:monitors]), ledger


async def agentroute_steps(runner: GraphRunner, runs: int) -> list[float]:
    per_step = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await runner.arun("task")
        per_step.append((time.perf_counter() - started) / (len(result.path) - 1))
    return per_step


class Loop(TypedDict):
    n: int


def langgraph_graph(steps: int) -> Any:
    from langgraph.graph import END, START, StateGraph

    g: StateGraph[Loop] = StateGraph(Loop)
    g.add_node("step", lambda s: {"n": s["n"] + 1})
    g.add_edge(START, "step")
    g.add_conditional_edges("step", lambda s: "step" if s["n"] < steps else END, ["step", END])
    return g.compile()


async def langgraph_steps(runs: int, steps: int) -> list[float]:
    graph = langgraph_graph(steps)
    per_step = []
    for _ in range(runs):
        started = time.perf_counter()
        await graph.ainvoke({"n": 0}, {"recursion_limit": steps + 5})
        per_step.append((time.perf_counter() - started) / steps)
    return per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the agentroute loop")
    parser.add_argument("--scaling", action="store_true", help="graph size and monitor count")
    args = parser.parse_args()
    if args.scaling:
        scaling(args.runs)
        return
    runner, _ = agentroute_runner(args.nodes)

    async def both() -> tuple[list[float], list[float]]:
        await agentroute_steps(runner, 20)  # warm up
        await langgraph_steps(20, 10)
        if args.profile:
            from pyinstrument import Profiler

            with Profiler(async_mode="enabled") as prof:
                await agentroute_steps(runner, args.runs)
            prof.print(show_all=False)
        ours = await agentroute_steps(runner, args.runs)
        theirs = await langgraph_steps(args.runs, 10)
        return ours, theirs

    ours, theirs = asyncio.run(both())
    steps = len(asyncio.run(runner.arun("task")).path) - 1
    print(f"python {platform.python_version()}, {platform.machine()}, {args.runs} runs each")
    print(f"agentroute, {args.nodes}-node graph ({steps} steps a run): "
          f"median {statistics.median(ours) * 1e6:.0f} us per step, "
          f"p90 {sorted(ours)[int(0.9 * len(ours))] * 1e6:.0f} us")  # fmt: skip
    print(f"LangGraph, one conditional step: median {statistics.median(theirs) * 1e6:.0f} us "
          f"per step, p90 {sorted(theirs)[int(0.9 * len(theirs))] * 1e6:.0f} us")  # fmt: skip


def scaling(runs: int) -> None:
    def per_step(nodes: int, monitors: int) -> float:
        runner, _ = agentroute_runner(nodes, monitors=monitors)
        n = max(5, runs if nodes <= 1000 else runs // 10)
        asyncio.run(agentroute_steps(runner, 3))
        return statistics.median(asyncio.run(agentroute_steps(runner, n))) * 1e6

    print("graph nodes -> median us per step (2 monitors)")
    for nodes in (50, 200, 1000, 5000, 10000):
        print(f"  {nodes:>6}  {per_step(nodes, 2):8.0f}")
    print("monitors -> median us per step (50 nodes)")
    for monitors in (1, 2, 4, 8, 16, 32):
        print(f"  {monitors:>6}  {per_step(50, monitors):8.0f}")


if __name__ == "__main__":
    main()
