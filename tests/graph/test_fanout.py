"""Dependency DAGs and parallel fan-out: prerequisites of a join run concurrently, heal on
their own, and a branch that cannot finish escalates the task explicitly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from agentroute import ConfigError
from agentroute.graph import TaskGraph
from agentroute.runtime import GraphRunner, NodeContext

TRAVEL = [
    ("start", "auth", 0.1),
    ("auth", "flight_api", 1.0), ("auth", "flight_backup", 3.0),
    ("flight_api", "flights", 1.0), ("flight_backup", "flights", 1.0),
    ("auth", "hotel_api", 1.0), ("auth", "hotel_backup", 4.0),
    ("hotel_api", "hotel", 1.0), ("hotel_backup", "hotel", 1.0),
    ("flights", "itinerary", 1.0), ("hotel", "itinerary", 1.0),
    ("itinerary", "done", 0.1),
]  # fmt: skip


def travel() -> TaskGraph:
    return TaskGraph(
        TRAVEL, start="start", goal="done", requires={"itinerary": ["flights", "hotel"]}
    )


def handlers(
    g: TaskGraph,
    failing: set[str] = frozenset(),
    delay: float = 0.0,  # type: ignore[assignment]
    calls: list[str] | None = None,
) -> dict[str, Any]:
    log = calls if calls is not None else []

    def make(name: str):  # type: ignore[no-untyped-def]
        async def h(ctx: NodeContext) -> Any:
            log.append(name)
            await asyncio.sleep(delay)
            if name in failing:
                raise ConnectionError(f"{name} down")
            return sorted(ctx.results)

        return h

    return {n: make(n) for n in g.nodes if n != g.start}


def test_prerequisites_run_concurrently_then_join() -> None:
    g = travel()
    calls: list[str] = []
    started = time.monotonic()
    result = GraphRunner(g, handlers(g, delay=0.2, calls=calls)).run("book my trip")
    elapsed = time.monotonic() - started
    assert result.status == "completed"
    assert result.path[-2:] == ("itinerary", "done")
    assert {"flights", "hotel", "flight_api", "hotel_api"} <= set(result.path)
    assert set(result.results["itinerary"]) >= {"flights", "hotel"}
    # auth, then two branches of two nodes in parallel, then itinerary and done: 5 x 0.2 s
    assert elapsed < 1.35, f"branches did not overlap ({elapsed:.2f}s)"
    assert calls.count("auth") == 1
    [fan] = result.trace.of_kind("fanout")
    assert fan.join == "itinerary" and set(fan.branches) == {"flights", "hotel"}  # type: ignore[union-attr]


def test_a_branch_heals_on_its_own() -> None:
    g = travel()
    result = GraphRunner(g, handlers(g, failing={"hotel_api"})).run("book")
    assert result.status == "completed"
    assert "hotel_backup" in result.path and "flight_api" in result.path
    [reroute] = result.trace.of_kind("reroute")
    assert reroute.failed == "hotel_api"  # type: ignore[union-attr]
    assert result.reroutes == 1 and result.llm_calls == 0


def test_a_branch_that_cannot_finish_escalates_the_task() -> None:
    g = travel()
    result = GraphRunner(g, handlers(g, failing={"hotel_api", "hotel_backup"})).run("book")
    assert result.status == "escalated"
    reasons = [e.reason for e in result.trace.of_kind("escalation")]  # type: ignore[union-attr]
    assert reasons == ["no_feasible_path", "branch_failed"]
    assert "itinerary" not in result.results


def test_join_edges_are_validated() -> None:
    with pytest.raises(ConfigError, match="non-prerequisites"):
        TaskGraph(
            [*TRAVEL, ("auth", "itinerary", 1.0)],
            start="start",
            goal="done",
            requires={"itinerary": ["flights", "hotel"]},
        )
    with pytest.raises(ConfigError, match="no edge"):
        TaskGraph(
            [*TRAVEL, ("auth", "car", 1.0)],
            start="start",
            goal="done",
            requires={"itinerary": ["flights", "hotel", "car"]},
        )
    with pytest.raises(ConfigError, match="at least two"):
        TaskGraph(TRAVEL, start="start", goal="done", requires={"itinerary": ["flights"]})
