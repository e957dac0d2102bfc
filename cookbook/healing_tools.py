"""Tools failing mid-run and the route healing itself, with no LLM call.

A small research pipeline is a cost graph: fetch a page (primary API, mirror, or cache), then
summarise it with an agent on a model. The primary fetcher starts failing after the first task;
its circuit breaker trips, Dijkstra routes around it, and every failure shows up in the trace
as a reroute. When every fetcher is down, the task ends in an explicit escalation.

Runs on the embedded small model by default; ``--base-url`` points the summariser at any
OpenAI-compatible server.

    python cookbook/healing_tools.py
"""

from __future__ import annotations

import argparse
import asyncio

from _replay import add_replay_option, report_replays

from agentroute import Agent, FixedTierPolicy, Model, Pipeline
from agentroute.graph import TaskGraph
from agentroute.health import CircuitBreakerMonitor
from agentroute.runtime import GraphResult, GraphRunner, NodeContext

PAGE = (
    "The lighthouse at Point Reyes was built in 1870. Its first-order Fresnel lens, made in "
    "France, has 1,032 glass pieces and could be seen 24 miles out to sea."
)
EDGES = [
    ("start", "fetch_api", 1.0), ("start", "fetch_mirror", 2.0), ("start", "fetch_cache", 5.0),
    ("fetch_api", "summarize", 1.0), ("fetch_mirror", "summarize", 1.0),
    ("fetch_cache", "summarize", 1.0),
]  # fmt: skip


class Outages:
    """Which fetchers are down right now (the cookbook flips these between tasks)."""

    def __init__(self) -> None:
        self.down: set[str] = set()

    def fetcher(self, name: str):  # type: ignore[no-untyped-def]
        def fetch(ctx: NodeContext) -> str:
            if name in self.down:
                raise ConnectionError(f"{name}: connection refused")
            return PAGE

        return fetch


def build(model: Model, outages: Outages) -> GraphRunner:
    graph = TaskGraph(EDGES, start="start", goal="summarize")
    writer = Pipeline(
        [
            Agent(
                "summarizer",
                "Summarises a page in one sentence",
                models=[model],
                max_tokens=60,
                instructions="Summarise the page in one sentence.",
            )
        ],
        policy=FixedTierPolicy(model.tier),
        trace_dir=None,
    )

    async def summarize(ctx: NodeContext) -> str:
        page = next(v for k, v in ctx.results.items() if k.startswith("fetch_"))
        return (await writer.arun(f"Page: {page}")).output.strip()

    handlers = {n: outages.fetcher(n) for n in ("fetch_api", "fetch_mirror", "fetch_cache")}
    handlers["summarize"] = summarize
    breaker = CircuitBreakerMonitor(failure_threshold=2, cooldown_s=3600)
    return GraphRunner(graph, handlers, monitors=[breaker])


def describe(i: int, result: GraphResult) -> str:
    reroutes = [
        f"{e.failed} failed -> {' > '.join(e.new_path)}"  # type: ignore[union-attr]
        for e in result.trace.of_kind("reroute")
    ]
    escalations = [e.reason for e in result.trace.of_kind("escalation")]  # type: ignore[union-attr]
    summary = result.results.get("summarize", "")
    return (
        f"task {i}: {result.status}; path {' > '.join(result.path)}; "
        f"reroutes {reroutes or 'none'}; escalations {escalations or 'none'}; "
        f"LLM control calls {result.llm_calls}\n  {summary}"
    )


async def main_async(
    model: Model, task: str = "Summarise the Point Reyes lighthouse page."
) -> tuple[GraphRunner, list[GraphResult]]:
    outages = Outages()
    runner = build(model, outages)
    results = []
    plan = [
        set(),
        {"fetch_api"},
        {"fetch_api"},
        {"fetch_api"},
        {"fetch_api", "fetch_mirror", "fetch_cache"},
    ]
    for i, down in enumerate(plan, start=1):
        outages.down = down
        result = await runner.arun(task)
        print(describe(i, result), flush=True)
        results.append(result)
    return runner, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible server instead of local models")
    parser.add_argument("--model", default="small")
    parser.add_argument("--task", default="Summarise the Point Reyes lighthouse page.")
    add_replay_option(parser)
    args = parser.parse_args()
    model = (
        Model.openai_compatible(args.base_url, args.model, tier="small")
        if args.base_url
        else Model.local("small")
    )
    runner, results = asyncio.run(main_async(model, args.task))
    if args.check_replay:  # the graph runs; their summariser runs replay inside them
        report_replays([lambda r=r: runner.replay(r.trace) for r in results])


if __name__ == "__main__":
    main()
