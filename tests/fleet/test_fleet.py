"""The Ray fleet on a local cluster against the fake server: results and traces gathered
back, a breaker that opens fleet-wide, one pheromone update per gated outcome, no budget
overspend across workers, and a worker killed mid-task."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, tool
from agentroute.aco import AntOutcome, PheromoneMemory, min_quality
from agentroute.graph import TaskGraph
from agentroute.health import CircuitBreakerMonitor
from agentroute.runtime import GraphRunner, NodeContext
from agentroute.runtime.ray_fleet import Fleet
from agentroute.testing import FakeModelServer, Reply


def _solo(url: str, **agent: object) -> Pipeline:
    model = Model.openai_compatible(url, "m", tier="small", price_in=1.0, price_out=2.0)
    return Pipeline([Agent("solo", "answers", models=[model], max_tokens=32, **agent)],  # type: ignore[arg-type]
                    policy=FixedTierPolicy("small"))  # fmt: skip


def test_tasks_run_on_workers_and_come_back_with_traces(
    cluster: None, server: FakeModelServer
) -> None:
    server.responder = lambda body: Reply(f"answer to {body['messages'][-1]['content']}")
    url = server.url
    fleet = Fleet(workers=2)
    results = fleet.run(lambda: _solo(url), [f"q{i}" for i in range(12)])
    assert [r.output for r in results] == [f"answer to q{i}" for i in range(12)]
    assert all(r.ok and r.attempt == 1 and r.model_calls == 1 for r in results)
    assert len({r.worker_pid for r in results}) == 2 and os.getpid() not in {
        r.worker_pid for r in results}  # fmt: skip
    kinds = [rec["kind"] for rec in results[0].trace]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and "model_call" in kinds
    assert len(server.calls()) == 12


def test_no_overspend_across_workers(cluster: None, server: FakeModelServer) -> None:
    server.responder = lambda body: Reply("ok", usage=(10, 5))
    url = server.url
    per_call = (10 * 1.0 + 5 * 2.0) / 1e6
    fleet = Fleet(workers=2, budget_usd=0.0004)
    results = fleet.run(lambda: _solo(url), [f"q{i}" for i in range(40)],
                        task_budget_usd=0.0001)  # fmt: skip
    spend = fleet.spend()
    assert spend["spent"] <= 0.0004 + 1e-12
    done = [r for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    assert done and refused and all("BudgetExceededError" in (r.error or "") for r in refused)
    assert spend["spent"] == pytest.approx(len(done) * per_call)
    assert sum(r.cost_usd for r in done) == pytest.approx(spend["spent"])


def test_breaker_opens_fleet_wide(cluster: None) -> None:
    fleet = Fleet(workers=2)
    breaker = fleet.shared(CircuitBreakerMonitor(failure_threshold=2, cooldown_s=3600))

    def build() -> GraphRunner:
        graph = TaskGraph([("start", "primary", 1.0), ("start", "backup", 5.0),
                           ("primary", "done", 1.0), ("backup", "done", 1.0)],
                          start="start", goal="done")  # fmt: skip

        def primary(ctx: NodeContext) -> str:
            raise ConnectionError("primary is down")

        return GraphRunner(graph, {"primary": primary, "backup": lambda ctx: "b",
                                   "done": lambda ctx: "ok"}, monitors=[breaker])  # fmt: skip

    first = fleet.run(build, ["a", "b"], ids=["a", "b"])  # one per worker: one failure each
    assert {r.worker_pid for r in first} and all(r.ok for r in first)
    tried = [sum(1 for e in r.trace if e["kind"] == "node_run" and e["node"] == "primary")
             for r in first]  # fmt: skip
    assert tried == [1, 1]
    assert fleet.ask(breaker, "state", "primary").value == "open"
    later = fleet.run(build, ["c", "d", "e", "f"], ids=["c", "d", "e", "f"])
    for r in later:  # no worker tries the primary any more
        assert not [e for e in r.trace if e["kind"] == "node_run" and e["node"] == "primary"]


def test_one_pheromone_update_per_gated_outcome(cluster: None) -> None:
    fleet = Fleet(workers=2)
    colony = fleet.colony(PheromoneMemory(["t"]), rho=0.1, deposit=0.5, gate=min_quality(0.5))

    def build():  # type: ignore[no-untyped-def]
        class Learner:
            async def arun(self, task: str) -> object:
                quality = 1.0 if task.startswith("good") else 0.0
                await colony.submit(task, AntOutcome(("a",), {"t": 1.0}, quality))
                await colony.submit(task, AntOutcome(("a",), {"t": 1.0}, quality))  # a repeat
                return type("R", (), {"output": task, "trace": []})()

        return Learner()

    tasks = [f"good-{i}" for i in range(6)] + [f"bad-{i}" for i in range(4)]
    fleet.run(build, tasks, ids=tasks)
    assert colony.counts() == {"applied": 6, "rejected": 4, "outcomes": 10}
    import asyncio

    from agentroute.aco import START

    learned = asyncio.run(colony.snapshot())  # what workers route on
    fresh = PheromoneMemory(["t"])
    assert learned.fused((START, "a"), {"t": 1.0}) > fresh.fused((START, "a"), {"t": 1.0})


def test_a_worker_killed_mid_task_is_retried_without_repeats(
    cluster: None, server: FakeModelServer, tmp_path: Path
) -> None:
    flag, effects = tmp_path / "crashed", tmp_path / "effects.txt"
    server.script(
        Reply("", tool_calls=(("book", {"city": "Lisbon"}),)),
        Reply("", tool_calls=(("crash_once", {}),)),
        Reply("Booked."),
        model="m",
    )
    url = server.url

    def build() -> Pipeline:
        @tool
        def book(city: str) -> str:
            """Book a room."""
            with effects.open("a") as f:
                f.write(f"booked {city}\n")
            return "booked"

        @tool
        def crash_once() -> str:
            """Confirm the booking."""
            if not flag.exists():
                flag.write_text("x")
                os._exit(1)  # the worker process dies mid-task
            return "confirmed"

        return _solo(url, tools=[book, crash_once])

    fleet = Fleet(workers=1, budget_usd=0.01, durable=tmp_path / "runs.db")
    [result] = fleet.run(build, ["book Lisbon"], ids=["trip-1"], task_budget_usd=0.001)
    assert result.ok and result.output == "Booked." and result.attempt == 2
    assert effects.read_text() == "booked Lisbon\n"  # the finished tool call was not repeated
    assert len(server.calls()) == 3  # nor any finished model call
    retry = [e for e in result.trace if e["kind"] == "task_retry"]
    assert retry and retry[0]["attempt"] == 2 and retry[0]["task_id"] == "trip-1"
    assert [e["kind"] for e in result.trace].count("resume") == 1
    assert fleet.spend()["spent"] <= 0.001
