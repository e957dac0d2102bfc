"""Travel booking over a dependency DAG, as one graph: flights and hotel are found in parallel
(each with a primary API and a backup), the itinerary waits for both, and a failed API heals by
rerouting to its backup with no LLM call.

The graph is the task's plan: Dijkstra picks the cheapest healthy way to each prerequisite of
the join, the two branches run concurrently, and the planner agent, a node of the same graph,
writes the itinerary on its model from what they found. One run, one trace, one budget: the
planner's model call is booked in the same ledger as everything else. The second trip runs
while the hotel API is down: the trace shows the reroute.

    python cookbook/travel_dag.py
    python cookbook/travel_dag.py --task "Two nights in Porto in May" --base-url http://gpu:8000/v1
"""

from __future__ import annotations

import asyncio
from typing import Any

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute import Agent, Budget, FixedTierPolicy, Model
from agentroute.graph import TaskGraph
from agentroute.health import CircuitBreakerMonitor
from agentroute.runtime import GraphResult, GraphRunner, NodeContext

EDGES = [
    ("start", "auth", 0.1),
    ("auth", "flight_api", 1.0), ("auth", "flight_backup", 3.0),
    ("flight_api", "flights", 1.0), ("flight_backup", "flights", 1.0),
    ("auth", "hotel_api", 1.0), ("auth", "hotel_backup", 4.0),
    ("hotel_api", "hotel", 1.0), ("hotel_backup", "hotel", 1.0),
    ("flights", "itinerary", 1.0), ("hotel", "itinerary", 1.0),
]  # fmt: skip
OFFERS = {
    "flight_api": [{"flight": "TP 1351", "departs": "08:10", "eur": 129}],
    "flight_backup": [{"flight": "FR 4402", "departs": "13:45", "eur": 96}],
    "hotel_api": [{"hotel": "Casa do Rio", "eur_per_night": 110}],
    "hotel_backup": [{"hotel": "Hostel Central", "eur_per_night": 48}],
}
DEFAULT_TASK = "Book three nights in Lisbon next Friday."


def build(model: Model, down: set[str]) -> GraphRunner:
    graph = TaskGraph(EDGES, start="start", goal="itinerary",
                      requires={"itinerary": ["flights", "hotel"]})  # fmt: skip
    planner = Agent("itinerary", "Writes travel itineraries", models=[model], max_tokens=80,
                    instructions="Write the itinerary in two sentences from the bookings "
                                 "in the results.")  # fmt: skip

    def api(name: str):  # type: ignore[no-untyped-def]
        def search(ctx: NodeContext) -> list[dict[str, Any]]:
            if name in down:
                raise ConnectionError(f"{name}: 503 service unavailable")
            return OFFERS[name]

        return search

    def pick(prefix: str):  # type: ignore[no-untyped-def]
        def choose(ctx: NodeContext) -> dict[str, Any]:
            found = next(v for k, v in ctx.results.items() if k.startswith(prefix))
            return min(found, key=lambda o: o.get("eur", o.get("eur_per_night", 0)))

        return choose

    handlers: dict[str, Any] = {n: api(n) for n in OFFERS}
    handlers |= {"auth": lambda ctx: "token-ok", "flights": pick("flight_"),
                 "hotel": pick("hotel_"), "itinerary": planner}  # fmt: skip
    return GraphRunner(graph, handlers, monitors=[CircuitBreakerMonitor(failure_threshold=1)],
                       policy=FixedTierPolicy(model.tier), budget=Budget(usd=0.01),
                       trace_dir="traces")  # fmt: skip


def describe(result: GraphResult) -> str:
    reroutes = [f"{e.failed} failed, rerouted" for e in result.trace.of_kind("reroute")]  # type: ignore[union-attr]
    calls = len(result.trace.of_kind("model_call"))
    return (f"{result.status}; ran {', '.join(result.path[1:])}; "
            f"{'; '.join(reroutes) or 'no reroute'}; LLM control calls {result.llm_calls}; "
            f"model calls {calls}, ${result.cost_usd:.6f} in one trace\n"
            f"  {str(result.results.get('itinerary', '')).strip()}")  # fmt: skip


def main() -> None:
    parser = cookbook_parser(__doc__, task=DEFAULT_TASK)
    args = parser.parse_args()
    small, _ = small_and_large(args)
    runs = []
    for label, down in (("all APIs up", set()), ("hotel API down", {"hotel_api"})):
        runner = build(small, down)
        result = asyncio.run(runner.arun(args.task))
        print(f"{label}: {describe(result)}", flush=True)
        runs.append((runner, result))
    if args.check_replay:
        report_replays([lambda r=r, x=x: r.replay(x.trace) for r, x in runs])


if __name__ == "__main__":
    main()
