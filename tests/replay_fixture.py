"""A pipeline for the replay tests, importable as ``tests.replay_fixture:build``."""

from __future__ import annotations

import os
import random

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, ReasoningRouter, RetryPolicy, tool
from agentroute.aco import AgentNode, Colony, PheromoneMemory, PheromoneUpdater
from agentroute.runtime.colony_run import ColonyRunner, StageResult

CALLS: list[str] = []
"""Every order the tool looked up (a replay must add none)."""


@tool
def lookup_order(order_id: str) -> dict[str, object]:
    """Look up an order."""
    CALLS.append(order_id)
    return {"order_id": order_id, "charges": 2}


def build(max_agents: int = 1) -> Pipeline:
    url = os.environ.get("REPLAY_FIXTURE_URL", "http://127.0.0.1:9/v1")
    retry = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05)
    small = Model.openai_compatible(
        url,
        "small",
        tier="small",
        price_in=1,
        price_out=2,
        retry=retry,
        api_key="sk-replay-fixture-000000",
    )
    large = Model.openai_compatible(
        url, "large", tier="large", price_in=5, price_out=15, retry=retry
    )
    agents = [
        Agent("billing", "Refunds and invoices", tools=[lookup_order], models=[small, large]),
        Agent("shipping", "Parcels and deliveries", models=[small, large]),
    ]
    return Pipeline(
        agents,
        router=ReasoningRouter(max_agents=max_agents),
        budget_usd=0.05,
        policy=FixedTierPolicy("small"),
        origin="tests.replay_fixture:build",
    )


def build_colony() -> ColonyRunner:
    """A two-stage colony whose stages answer from their names (no model): its runs replay
    from the CLI with ``--pipeline tests.replay_fixture:build_colony``."""

    async def execute(node: str, query: str, previous: str) -> StageResult:
        return StageResult(f"{previous} {node}:{len(query)}".strip(), cost=1.0)

    stages = [
        [AgentNode("draft_small", {"code": 0.5}), AgentNode("draft_large", {"code": 0.9})],
        [AgentNode("review", {"code": 0.8})],
    ]
    colony = Colony(stages, PheromoneMemory(["code"]), rng=random.Random(7))
    updater = PheromoneUpdater(colony.memory)
    return ColonyRunner(colony, updater, lambda q: {"code": 1.0}, execute, lambda q, a: 1.0)
