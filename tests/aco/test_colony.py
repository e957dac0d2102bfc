"""Ant path construction, the router form, intent inference, the background updater and the
serving runner."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from agentroute.aco import (
    START,
    AgentNode,
    AntOutcome,
    AntRouter,
    Colony,
    EmbeddingIntent,
    LLMIntent,
    PheromoneMemory,
    PheromoneUpdater,
    ant_pick,
    min_quality,
)
from agentroute.errors import ConfigError, RoutingError
from agentroute.events import RunEnd
from agentroute.routers.conformance import check_router
from agentroute.runtime.colony_run import ColonyRunner, StageResult
from agentroute.testing import FakeModelServer, Reply
from agentroute.trace import MemorySink, Trace
from agentroute.types import Outcome
from tests.conftest import run
from tests.routers.helpers import reasoning_complete, toy_embed

MATH = {"math": 1.0}


def _colony(seed: int = 0, stages: int = 1) -> Colony:
    first = [
        AgentNode("weak", {"math": 0.6, "code": 0.3}, cost=1.0),
        AgentNode("strong", {"math": 0.9, "code": 0.8}, cost=10.0),
    ]
    more = [[AgentNode(f"check{i}", {"math": 0.9})] for i in range(stages - 1)]
    return Colony([first, *more], PheromoneMemory(["math", "code"]), rng=random.Random(seed))


def test_probabilities_follow_tau_alpha_eta_beta() -> None:
    colony = _colony()
    colony.memory.tables["math"].deposit(["weak"], 2.0)  # tau 3.0 against 1.0
    p = colony.probabilities(START, colony.stages[0], MATH)
    score = {"weak": 3.0 * 0.6**2, "strong": 1.0 * 0.9**2}
    total = sum(score.values())
    assert p == pytest.approx({k: v / total for k, v in score.items()})


def test_load_and_latency_lower_a_nodes_chances() -> None:
    colony = _colony()
    stage = colony.stages[0]
    before = colony.probabilities(START, stage, MATH)["strong"]
    colony.dispatch("run-1", START, "strong", MATH)
    colony.dispatch("run-2", START, "strong", MATH)
    assert colony.probabilities(START, stage, MATH)["strong"] == before  # no penalty by default
    colony.load_penalty = 0.5  # a capacity limit: calls in flight count against the node
    busy = colony.probabilities(START, stage, MATH)["strong"]
    assert busy < before
    assert {d.edge for d in colony.settle("run-1") + colony.settle("run-2")} == {(START, "strong")}
    assert colony.probabilities(START, stage, MATH)["strong"] == before
    # latency comes from the engine's outcome records, one per attempt
    colony.load.observe(Outcome("strong", ok=True, latency_s=3.0))
    colony.load.observe(Outcome("strong", ok=False, latency_s=3.0, error_type="TimeoutError"))
    assert colony.load.latency_s["strong"] == 3.0
    assert colony.probabilities(START, stage, MATH)["strong"] < before


def test_a_seeded_colony_walks_the_same_paths() -> None:
    a = [_colony(seed=4, stages=2).walk(MATH).path for _ in range(1)]
    walks = [[c.walk(MATH).path for _ in range(20)] for c in (_colony(4, 2), _colony(4, 2))]
    assert walks[0] == walks[1] and a[0] == walks[0][0]
    assert all(len(p) == 2 and p[1] == "check0" for p in walks[0])


def test_colony_validation() -> None:
    with pytest.raises(ConfigError):
        Colony([], PheromoneMemory(["math"]))
    with pytest.raises(ConfigError):
        Colony([[AgentNode("x")], [AgentNode("x")]], PheromoneMemory(["math"]))
    with pytest.raises(ConfigError):
        AgentNode("x", {"math": float("nan")})


def test_ant_router_passes_the_conformance_suite(server: FakeModelServer) -> None:
    from tests.routers.helpers import AGENTS

    def make() -> AntRouter:
        nodes = [AgentNode(a.name, {"support": 0.5 + i / 10}) for i, a in enumerate(AGENTS)]
        colony = Colony([nodes], PheromoneMemory(["support"]), rng=random.Random(1))
        return AntRouter(colony, intent=lambda q: {"support": 1.0})

    async def candidates_for(text: str):  # type: ignore[no-untyped-def]
        return list(AGENTS), reasoning_complete(server)

    run(check_router(make, candidates_for, "I was charged twice", "unused"))
    d = run(make().route("q", AGENTS, None))
    assert sum(d.scores.values()) == pytest.approx(1.0) and "p=" in d.reason


def test_embedding_intent_weights_the_matching_type() -> None:
    intent = EmbeddingIntent(
        embed=toy_embed,
        examples={
            "math": ["add these numbers", "how many apples in total"],
            "code": ["fix this python function", "write a sql query"],
        },
        temperature=0.1,
    )
    w = intent.weights("how many numbers do I add")
    assert sum(w.values()) == pytest.approx(1.0) and w["math"] > 0.8
    with pytest.raises(ConfigError):
        EmbeddingIntent(embed=toy_embed, examples={"math": []})


def test_llm_intent_on_a_real_http_model(server: FakeModelServer) -> None:
    server.script(Reply("Code."), Reply("poetry"))

    async def go() -> tuple[dict[str, float], dict[str, float]]:
        intent = LLMIntent(reasoning_complete(server), ["math", "code", "chat"])
        return await intent.weights("fix my function"), await intent.weights("a poem")

    w, unknown = run(go())
    assert w["code"] == pytest.approx(0.85) and sum(w.values()) == pytest.approx(1.0)
    assert unknown == pytest.approx({t: 1 / 3 for t in w})


def test_a_failing_gate_never_deposits() -> None:
    memory = PheromoneMemory(["math", "code"])
    memory.ensure([(START, "weak"), (START, "strong")])
    updater = PheromoneUpdater(memory, rho=0.1, gate=min_quality(0.5))
    update = updater.apply(AntOutcome(("strong",), {"math": 0.7, "code": 0.3}, 0.2))
    assert not update.passed and updater.rejected == 1
    assert update.deltas and all(new < old for _, _, _, old, new in update.deltas)
    good = updater.apply(AntOutcome(("strong",), {"math": 1.0}, 1.0, cost=1.0))
    rises = [d for d in good.deltas if d[4] > d[3]]
    assert (
        good.passed and rises and all(t == "math" and dst == "strong" for t, _, dst, _, _ in rises)
    )
    # evaporation rho * w: 0.07 for the first outcome (math weight 0.7), then 0.1; deposit
    # w * deposit * quality / (1 + cost / cost_ref) = 1 * 0.5 * 1 / 2
    tau = memory.tables["math"].get((START, "strong"))
    assert tau == pytest.approx(1.0 * 0.93 * 0.9 + 0.25)


def test_updater_drains_and_stops_cleanly_and_survives_a_broken_gate() -> None:
    async def go() -> PheromoneUpdater:
        memory = PheromoneMemory(["math"])
        calls = 0

        def gate(o: AntOutcome) -> bool:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise RuntimeError("judge crashed")
            return o.quality > 0.5

        updater = PheromoneUpdater(memory, gate=gate)
        async with updater:
            for i in range(50):
                updater.submit(AntOutcome(("a",), MATH, (i % 4) / 3))
            await updater.drain()
            assert updater.pending == 0
            with pytest.raises(ConfigError):
                updater.submit(AntOutcome(("a",), {"poetry": 1.0}, 1.0))
            for _ in range(10):
                updater.submit(AntOutcome(("a",), MATH, 1.0))
        assert updater._task is None
        return updater

    updater = run(go())
    assert updater.applied + updater.rejected == 59 and updater.errors == [
        "RuntimeError: judge crashed"
    ]


def _runner(
    colony: Colony, judge: Callable[[str, str], float]
) -> tuple[ColonyRunner, MemorySink, MemorySink]:
    served, learned = MemorySink(), MemorySink()

    async def execute(node: str, query: str, previous: str) -> StageResult:
        await asyncio.sleep(0)
        return StageResult(f"{node} says 42" if node != "check0" else previous, cost=1.0)

    updater = PheromoneUpdater(colony.memory)
    runner = ColonyRunner(colony, updater, lambda q: MATH, execute, judge,
                          sinks=[served], learning_sinks=[learned])  # fmt: skip
    return runner, served, learned


def test_runner_traces_choices_and_learns_off_the_serving_path() -> None:
    colony = _colony(seed=2, stages=2)
    runner, served, learned = _runner(colony, lambda q, out: 1.0 if "strong" in out else 0.0)

    async def go() -> list[str]:
        results = []
        async with runner.updater:
            for wave in range(4):  # 50 at once; each wave decides on what the last one taught
                runs = (runner.run(f"task {wave * 50 + i}") for i in range(50))
                results += await asyncio.gather(*runs)
                assert not len(colony.inflight)  # every step settled as its run ended
                await runner.updater.drain()
        return [r.path[0] for r in results]

    firsts = run(go())
    kinds = [r["kind"] for r in served.records]
    assert kinds.count("ant_step") == 400 and kinds.count("run_end") == 200
    step = next(r for r in served.records if r["kind"] == "ant_step")
    assert set(step["probabilities"]) == {"weak", "strong"}
    updates = [r for r in learned.records if r["kind"] == "pheromone_update"]
    assert len(updates) == 200
    assert all(u["passed_gate"] == (u["path"][0] == "strong") for u in updates)
    # it learns: the strong agent's pheromone grows and it is picked more often later on
    assert firsts[150:].count("strong") > firsts[:50].count("strong")
    p = colony.probabilities(START, colony.stages[0], MATH)
    assert p["strong"] > 0.9


def test_ant_pick_lands_where_random_choices_does() -> None:
    p = {"a": 0.2, "b": 0.5, "c": 0.3}
    for seed in range(200):
        draw = random.Random(seed).random()
        chosen = random.Random(seed).choices(list(p), weights=list(p.values()))[0]
        assert ant_pick(p, draw) == chosen
    assert ant_pick(p, 0.0) == "a" and ant_pick(p, 0.69) == "b" and ant_pick(p, 0.999) == "c"
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(RoutingError):
            ant_pick(p, bad)


def test_a_colony_run_replays_with_every_choice_made_again(tmp_path: Path) -> None:
    colony = _colony(seed=3, stages=2)
    runner, _, _ = _runner(colony, lambda q, out: 1.0 if "strong" in out else 0.0)

    async def go() -> list[Trace]:
        async with runner.updater:
            results = [await runner.run(f"task {i}") for i in range(6)]
            await runner.updater.drain()
        return [r.trace for r in results]

    traces = run(go())
    tables = colony.memory.to_dict()
    for trace in traces:  # the tables have moved on since: the recorded draws stand in
        report = runner.replay(trace)
        assert report.identical, report.first_difference
        assert [e.kind for e in report.replayed].count("ant_step") == 2
    assert colony.memory.to_dict() == tables  # a replay teaches the colony nothing
    assert len(colony.inflight) == 0  # and sends no ant out

    # a trace whose pick does not follow from its probabilities and draw is caught
    lines = traces[0].save(tmp_path / "run.jsonl").read_text().splitlines()
    step = next(i for i, x in enumerate(lines) if '"ant_step"' in x)
    record = json.loads(lines[step])
    other = next(n for n in record["probabilities"] if n != record["chosen"])
    record["chosen"] = other
    lines[step] = json.dumps(record)
    (tmp_path / "forged.jsonl").write_text("\n".join(lines))
    forged = Trace.load(tmp_path / "forged.jsonl")
    assert not runner.replay(forged).identical

    record.pop("draw")  # a trace from before draws were recorded
    lines[step] = json.dumps(record)
    (tmp_path / "old.jsonl").write_text("\n".join(lines))
    old = runner.replay(Trace.load(tmp_path / "old.jsonl"))
    assert not old.identical and "records no draw" in (old.replayed.events(RunEnd)[0].error or "")
