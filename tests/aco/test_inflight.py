"""The in-flight ledger and the rate rule: exact accounting, the exploration bonus that work
in flight shrinks, and many concurrent colony runs over HTTP on the fake server."""

from __future__ import annotations

import asyncio
import math
import random
import threading
from typing import Any

import pytest

from agentroute.aco import (
    START,
    AgentNode,
    AntOutcome,
    Colony,
    Dispatch,
    InFlight,
    PheromoneMemory,
    PheromoneUpdater,
)
from agentroute.errors import ConfigError, RunError
from agentroute.models import Model, RetryPolicy, connect
from agentroute.runtime.colony_run import ColonyRunner, StageResult
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import Message, ModelRequest
from tests.conftest import run

MATH = {"math": 1.0}
EDGES = [(START, "a"), (START, "b"), ("a", "c"), ("b", "c")]


def test_the_ledger_keeps_its_sums_and_settles_to_exactly_nothing() -> None:
    rng = random.Random(11)
    ledger, live = InFlight(), {}
    for k in range(400):
        w = {"math": rng.random(), "code": rng.random()}
        total = sum(w.values())
        steps = [Dispatch(e, {t: v / total for t, v in w.items()}) for e in rng.sample(EDGES, 2)]
        for d in steps:  # a two-stage run dispatches twice under one key
            ledger.dispatch(k, d)
        live[k] = steps
        if rng.random() < 0.45:
            gone = rng.choice(sorted(live))
            assert ledger.settle(gone) == tuple(live.pop(gone))
        open_ = [d for ds in live.values() for d in ds]
        assert len(ledger) == len(open_) and sorted(map(repr, ledger.open())) == sorted(
            map(repr, open_)
        )
        for e in EDGES:
            for t in ("math", "code"):
                ref = sum(d.weights[t] for d in open_ if d.edge == e)
                assert ledger.pending(e, t) == pytest.approx(ref, abs=1e-9)
        for node in "abc":
            assert ledger.busy(node) == sum(d.edge[1] == node for d in open_)
    assert ledger.settle("nobody") == ()
    for k in sorted(live):
        ledger.settle(k)
    assert len(ledger) == 0 and ledger.open() == []
    assert all(ledger.pending(e, t) == 0.0 for e in EDGES for t in ("math", "code"))
    assert all(ledger.busy(n) == 0 for n in "abc")


def test_the_rate_rule_reads_success_per_unit_of_traffic() -> None:
    memory = PheromoneMemory(["math", "code"], rule="rate", prior=0.5, prior_weight=2.0)
    table = memory.tables["math"]
    edge = (START, "a")
    assert table.get(edge) == 0.5 and table.traffic(edge) == 0.0  # the prior, no evidence
    updater = PheromoneUpdater(memory, rho=0.1)
    updater.apply(AntOutcome(("a",), {"math": 0.75, "code": 0.25}, 1.0))
    # evaporation first (nothing stored yet), then traffic 0.75 and credit 0.75 on math
    assert table.traffic(edge) == 0.75
    assert table.get(edge) == pytest.approx((0.75 + 0.5 * 2) / (0.75 + 2))
    update = updater.apply(AntOutcome(("a",), MATH, 0.2))  # fails the gate: traffic, no credit
    assert not update.passed
    assert table.get(edge) == pytest.approx((0.75 * 0.9 + 1.0) / (0.75 * 0.9 + 1 + 2))
    assert any(d[:3] == ("math", START, "a") and d[4] < d[3] for d in update.deltas)
    # an edge nobody walks keeps its rate while its traffic evaporates
    before, traffic = memory.tables["code"].get(edge), memory.tables["code"].traffic(edge)
    memory.tables["code"].evaporate(0.5)
    assert memory.tables["code"].traffic(edge) == traffic / 2
    assert memory.tables["code"].get(edge) != before  # the prior weighs more with less traffic
    with pytest.raises(ConfigError):
        PheromoneMemory(["math"], rule="rated")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        PheromoneMemory(["math"], rule="rate", prior=1.5)


@pytest.mark.parametrize("rule", ["trail", "rate"])
def test_how_often_an_edge_is_chosen_moves_the_trail_not_the_rate(rule: str) -> None:
    """Two agents equally good, one chosen nine times as often: the trail rule reads the
    popular one as far better (how a colony locks in); the rate rule reads them alike."""
    memory = PheromoneMemory(["math"], rule=rule)  # type: ignore[arg-type]
    memory.ensure([(START, "popular"), (START, "rare")])
    updater = PheromoneUpdater(memory, rho=0.01, deposit=0.05)
    rng = random.Random(4)
    for _ in range(3000):
        agent = "popular" if rng.random() < 0.9 else "rare"
        updater.apply(AntOutcome((agent,), MATH, float(rng.random() < 0.8)))
    tau = memory.tables["math"]
    ratio = tau.get((START, "popular")) / tau.get((START, "rare"))
    if rule == "trail":
        assert ratio > 3.0
    else:
        assert ratio == pytest.approx(1.0, abs=0.15)


def _rate_colony(explore: float, **kw: Any) -> Colony:
    nodes = [AgentNode("known"), AgentNode("new")]
    memory = PheromoneMemory(["math"], rule="rate", prior=0.5, prior_weight=1.0)
    colony = Colony([nodes], memory, alpha=80.0, explore=explore, **kw)
    memory.tables["math"].reinforce(["known"], 50.0, 40.0)  # walked 50 times, 80% right
    return colony


def test_work_in_flight_shrinks_the_exploration_bonus_until_it_settles() -> None:
    colony = _rate_colony(explore=0.5)
    stage = colony.stages[0]
    w = colony.memory.check_weights(MATH)
    assert colony.tau(START, "new", w) == pytest.approx(0.5 + 0.5)  # nothing known: all bonus
    assert colony.tau(START, "known", w) == pytest.approx(40.5 / 51 + 0.5 / math.sqrt(51))
    before = colony.probabilities(START, stage, MATH)
    assert before["new"] > 0.99  # unexplored, so tried first
    for k in range(3):
        colony.dispatch(f"run-{k}", START, "new", w)
    assert colony.tau(START, "new", w) == pytest.approx(0.5 + 0.5 / 2)  # sqrt(1 + 0 + 3)
    assert colony.probabilities(START, stage, MATH)["new"] < 0.01  # answers are on their way
    for k in range(3):
        colony.settle(f"run-{k}")
    assert colony.probabilities(START, stage, MATH) == before  # exactly as before
    # without exploration the ledger changes nothing: in-flight work is no evidence of quality
    plain = _rate_colony(explore=0.0)
    p = plain.probabilities(START, stage, MATH)
    for k in range(500):
        plain.dispatch(k, START, "known", w)
    assert plain.probabilities(START, stage, MATH) == p


class _Blind(InFlight):
    """The control: a ledger that reports no work in flight."""

    def pending(self, edge: tuple[str, str], task_type: str) -> float:
        return 0.0


def test_many_concurrent_runs_on_the_fake_server_do_not_rush_onto_one_edge() -> None:
    """300 runs at once over HTTP; the server holds every answer until all 300 have chosen,
    so every choice is made before any outcome is known. The unexplored agent looks best to
    the first ant only: with the ledger the others see that its answers are on their way and
    go to the known agent; with a blind ledger they all rush onto the unexplored one. Every
    step is settled and learned exactly once (with rho 0, traffic counts runs exactly)."""
    n = 300
    release = threading.Event()

    def respond(body: dict[str, Any]) -> Reply:
        release.wait(timeout=60)
        return Reply("right" if body["model"] == "known" else "wrong")

    async def go(server: FakeModelServer, colony: Colony) -> list[str]:
        retry = RetryPolicy(max_attempts=1, attempt_timeout_s=60.0, deadline_s=120.0)
        ends = {
            a: connect(Model.openai_compatible(server.url, a, retry=retry)) for a in colony.nodes
        }

        started = 0

        async def execute(node: str, query: str, previous: str) -> StageResult:
            nonlocal started
            started += 1  # a stage starts after its ant step is drawn and in the ledger
            if started == n:
                assert len(colony.inflight) == n
                release.set()
            request = ModelRequest(messages=(Message.user(query),), max_tokens=4)
            return StageResult((await ends[node].complete(request, timeout_s=60.0)).text)

        updater = PheromoneUpdater(colony.memory, rho=0.0)
        runner = ColonyRunner(colony, updater, lambda q: MATH, execute,
                              lambda q, out: float(out == "right"))  # fmt: skip

        async with updater:
            done = await asyncio.gather(*(runner.run(f"q{i}") for i in range(n)))
        for ep in ends.values():
            await ep.aclose()
        release.clear()
        assert len(colony.inflight) == 0 and updater.applied + updater.rejected == n
        picks = [r.path[0] for r in done]
        table = colony.memory.tables["math"]
        assert table.traffic((START, "new")) == picks.count("new")
        assert table.traffic((START, "known")) == 50 + picks.count("known")
        return picks

    with FakeModelServer(responder=respond) as server:
        seen = run(go(server, _rate_colony(0.5, rng=random.Random(3))))
        blind = run(go(server, _rate_colony(0.5, rng=random.Random(3), inflight=_Blind())))
    assert 1 <= seen.count("new") <= 20
    assert blind.count("new") >= n - 10


def test_a_failed_run_settles_and_teaches_its_last_step_quality_zero() -> None:
    nodes = [AgentNode("flaky"), AgentNode("steady")]
    colony = Colony([nodes], PheromoneMemory(["math"], rule="rate"), rng=random.Random(0))
    updater = PheromoneUpdater(colony.memory, rho=0.0)

    async def execute(node: str, query: str, previous: str) -> StageResult:
        if node == "flaky":
            raise TimeoutError("no answer")
        return StageResult("fine")

    runner = ColonyRunner(colony, updater, lambda q: MATH, execute, lambda q, out: 1.0)

    async def go() -> list[str]:
        failed = []
        for i in range(20):
            try:
                await runner.run(f"q{i}")
            except RunError:
                failed.append(f"q{i}")
        updater.start()
        await updater.stop()
        return failed

    failed = run(go())
    assert failed and len(colony.inflight) == 0
    table = colony.memory.tables["math"]
    assert table.traffic((START, "flaky")) == len(failed)  # each failure learned once
    assert table.get((START, "flaky")) < 0.5 < table.get((START, "steady"))
    assert "flaky" in colony.load.latency_s  # a failed attempt's time counts too
