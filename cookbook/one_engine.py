"""Everything in one task, one graph, one trace and one budget: a reasoning router picks the
specialist agent, the agent's primary model endpoint is down and the step fails over to its
fallback model, an orders API fails and the path heals to its mirror, the reply writer is
chosen by pheromones learned from earlier satisfaction scores, the writer's tier is picked by
a one-token probe, and when the payments API is found down with nothing left to reach a refund
the goal is demoted to opening a ticket.

    triage --(reasoning router)--> billing | shipping        (agents; billing's primary model
        billing --> orders_api | orders_mirror                is unreachable: failover)
        --> compose --(pheromones)--> brief | warm            (agents; small or large by probe)
        --> payments_api --> refund_issued                    (goal; payments are down)
                     `--> ticket_opened                       (the lesser goal it ends at)

    python cookbook/one_engine.py [--base-url URL --small M --large M] [--check-replay]
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute import Agent, Budget, EntropyPolicy, Model, RetryPolicy
from agentroute.aco import (
    AgentNode,
    AntOutcome,
    AntRouter,
    Bounds,
    Colony,
    PheromoneMemory,
    PheromoneUpdater,
)
from agentroute.events import Escalation, ModelSwitch, RerouteEvent, RouteEvent
from agentroute.graph import TaskGraph
from agentroute.health import CircuitBreakerMonitor
from agentroute.routers import ReasoningRouter
from agentroute.runtime import GraphResult, GraphRunner, NodeContext

EDGES = [
    ("start", "triage", 0.0),
    ("triage", "billing", 1.0), ("triage", "shipping", 1.0),
    ("billing", "orders_api", 1.0), ("billing", "orders_mirror", 3.0),
    ("shipping", "orders_api", 1.0), ("shipping", "orders_mirror", 3.0),
    ("orders_api", "compose", 1.0), ("orders_mirror", "compose", 1.0),
    ("compose", "brief", 1.0), ("compose", "warm", 1.0),
    ("brief", "payments_api", 1.0), ("warm", "payments_api", 1.0),
    ("payments_api", "refund_issued", 1.0),
    ("brief", "ticket_opened", 5.0), ("warm", "ticket_opened", 5.0),
]  # fmt: skip
DOWN = {"orders_api", "payments_api"}
DEFAULT_TASK = "I was charged twice for order 1234; please refund the second charge."
UNREACHABLE = "http://127.0.0.1:9/v1"  # nothing listens on the discard port: connection refused
HISTORY = [("warm", 0.9), ("brief", 0.4), ("warm", 0.8), ("brief", 0.3), ("warm", 0.95)]
"""Earlier satisfaction scores of the two reply styles: what the pheromones learn from."""


def learned_writers(seed: int = 7) -> AntRouter:
    """Pheromones for the two writers, learned off the serving path from judged outcomes
    behind a quality gate (scores under 0.5 deposit nothing)."""
    memory = PheromoneMemory(["support"], bounds=Bounds(tau_min=0.1, tau_max=4.0))
    colony = Colony([[AgentNode("brief", {"support": 0.6}), AgentNode("warm", {"support": 0.6})]],
                    memory, alpha=2.0, rng=random.Random(seed))  # fmt: skip
    updater = PheromoneUpdater(memory, rho=0.05, deposit=0.5)
    for writer, score in HISTORY:
        updater.apply(AntOutcome((writer,), {"support": 1.0}, score))
    return AntRouter(colony, lambda task: {"support": 1.0})


def build(small: Model, large: Model) -> GraphRunner:
    primary = Model.openai_compatible(
        UNREACHABLE, "primary-small", tier="small", price_in=0.05, price_out=0.1,
        retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02),
    )  # fmt: skip
    style = "Reply to the customer in two sentences from the results so far. "
    handlers: dict[str, Any] = {
        "billing": Agent("billing", "Refunds, double charges and invoices", max_tokens=64,
                         models=[primary, large], fallbacks=[small],
                         instructions="Say in one sentence what the refund needs."),
        "shipping": Agent("shipping", "Parcels and deliveries", models=[small, large],
                          max_tokens=64),
        "brief": Agent("brief", "Short, factual replies", models=[small, large], max_tokens=64,
                       instructions=style + "Be brief."),
        "warm": Agent("warm", "Friendly, reassuring replies", models=[small, large],
                      max_tokens=64, instructions=style + "Be warm."),
    }  # fmt: skip
    for node in ("orders_api", "orders_mirror", "payments_api", "refund_issued", "ticket_opened"):
        handlers[node] = _service(node)
    graph = TaskGraph(EDGES, start="start", goal="refund_issued", lesser_goals=["ticket_opened"])
    return GraphRunner(
        graph, handlers,
        routers={"triage": ReasoningRouter(default="billing"), "compose": learned_writers()},
        router_model=large, policy=EntropyPolicy(threshold=1.8),
        monitors=[CircuitBreakerMonitor(failure_threshold=1)],
        budget=Budget(usd=0.01), trace_dir="traces",
    )  # fmt: skip


def _service(name: str):  # type: ignore[no-untyped-def]
    def call(ctx: NodeContext) -> dict[str, Any]:
        if name in DOWN:
            raise ConnectionError(f"{name}: 503 service unavailable")
        if name == "orders_mirror":
            return {"order": "1234", "charges": [49.9, 49.9]}
        return {name: "done"}

    return call


def describe(result: GraphResult) -> str:
    t = result.trace
    route = [e.chosen for e in t.events(RouteEvent)]
    switches = t.events(ModelSwitch)
    failover = [f"{e.from_model} -> {e.to_model}" for e in switches if e.policy == "failover"]
    tiers = [f"{e.agent}: {e.to_model}" for e in switches if e.policy != "failover"]
    reroutes = [f"{e.failed} failed" for e in t.events(RerouteEvent)]
    ends = [e.reason for e in t.events(Escalation)]
    return "\n".join([
        f"status    {result.status} (goal {result.goal}); {len(t)} events in one trace",
        f"routes    {' then '.join('+'.join(r) for r in route)}",
        f"failover  {'; '.join(failover) or '-'}",
        f"reroutes  {'; '.join(reroutes) or '-'}",
        f"tiers     {'; '.join(tiers)}",
        f"ending    {'; '.join(ends) or '-'}",
        f"cost      ${result.cost_usd:.6f} of $0.01; {len(t.of_kind('model_call'))} model calls, "
        f"{result.llm_calls} for control",
    ])  # fmt: skip


def main() -> None:
    parser = cookbook_parser(__doc__, task=DEFAULT_TASK)
    args = parser.parse_args()
    small, large = small_and_large(args)
    runner = build(small, large)
    result = asyncio.run(runner.arun(args.task))
    print(describe(result), flush=True)
    if args.check_replay:
        report_replays([lambda: build(small, large).replay(result.trace)])


if __name__ == "__main__":
    main()
