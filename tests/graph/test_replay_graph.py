"""Graph runs replay from their traces: recorded node results, health signals and demoter
answers stand in for handlers, monitors and the LLM."""

from __future__ import annotations

from agentroute import Trace
from agentroute.graph import TaskGraph
from agentroute.health import CircuitBreakerMonitor
from agentroute.runtime import GraphRunner
from agentroute.testing import FakeModelServer, Reply
from tests.graph.test_fanout import handlers as travel_handlers
from tests.graph.test_fanout import travel
from tests.graph.test_self_healing import Calls, _demoter, graph


def test_replay_uses_recorded_health_not_live_monitors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    g = graph()
    breaker = CircuitBreakerMonitor(failure_threshold=3, cooldown_s=1e9)
    calls = Calls({"search_a"})
    runner = GraphRunner(g, calls.all(g), monitors=[breaker])
    for _ in range(3):
        runner.run("t")
    fourth = runner.run("t")  # the breaker is open now: search_a is avoided from the start
    path = fourth.trace.save(tmp_path / "fourth.jsonl")
    n_calls = len(calls.calls)
    fresh = GraphRunner(g, Calls().all(g))  # no breaker, no failing tools
    report = fresh.replay(Trace.load(path))
    assert report.identical, report.describe()
    assert len(calls.calls) == n_calls


def test_demotion_replays_without_the_llm(server: FakeModelServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    g = graph(lesser_goals=["cached_answer"])
    server.script(Reply("Goal: cached_answer"))
    result = GraphRunner(g, Calls({"search_a", "search_b"}).all(g), demoter=_demoter(server)).run(
        "write a report"
    )
    assert result.status == "demoted"
    [demote] = [e for e in result.trace.of_kind("model_call")]
    assert demote.purpose == "demote" and demote.ok  # type: ignore[union-attr]
    path = result.trace.save(tmp_path / "demoted.jsonl")
    server.stop()
    report = GraphRunner(g, Calls().all(g), demoter=_demoter(server)).replay(Trace.load(path))
    assert report.identical, report.describe()


def test_planted_health_signal_diverges_at_the_reweight(tmp_path) -> None:  # type: ignore[no-untyped-def]
    g = graph()
    breaker = CircuitBreakerMonitor(failure_threshold=1, cooldown_s=1e9)
    runner = GraphRunner(g, Calls({"search_a"}).all(g), monitors=[breaker])
    runner.run("t")
    trace = runner.run("t").trace
    events = list(trace)
    i = next(i for i, e in enumerate(events) if e.kind == "health_signal")
    events[i] = events[i].model_copy(update={"target": "search_b"})  # type: ignore[union-attr]
    report = GraphRunner(g, Calls().all(g)).replay(Trace(events))
    assert not report.identical and report.divergence is not None


def test_fan_out_run_replays(tmp_path) -> None:  # type: ignore[no-untyped-def]
    g = travel()
    result = GraphRunner(g, travel_handlers(g, failing={"hotel_api"})).run("book")
    path = result.trace.save(tmp_path / "travel.jsonl")
    report = GraphRunner(g, travel_handlers(g)).replay(Trace.load(path))
    assert report.identical, report.describe()


def test_replay_never_runs_live_handlers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    g = TaskGraph([("s", "a", 1), ("a", "g", 1)], start="s", goal="g")
    result = GraphRunner(g, {"a": lambda c: {"x": 1}, "g": lambda c: "done"}).run("t")
    ran: list[str] = []
    live = {"a": lambda c: ran.append("a"), "g": lambda c: ran.append("g")}
    report = GraphRunner(g, live).replay(result.trace)
    assert report.identical and ran == []
    assert report.replayed.events(type(result.trace[2]))  # the replay has its own events


def test_signals_are_traced_on_change_cleared_when_gone_and_replayed() -> None:
    """A monitor that flags a node for two steps, then stops: one signal event, one
    ``cleared`` event, nothing repeated in between, and the replay rebuilds both."""
    from collections.abc import Sequence

    from agentroute.health import HealthContext
    from agentroute.types import HealthSignal

    class Blip:
        name = "blip"

        async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
            if ctx.step <= 2:
                return [HealthSignal(monitor="blip", target="b", kind="slow", multiplier=3.0)]
            return []

    g = TaskGraph([("s", "a", 1.0), ("a", "b", 1.0), ("b", "c", 1.0), ("c", "d", 1.0)],
                  start="s", goal="d")  # fmt: skip
    runner = GraphRunner(g, {n: (lambda ctx: "ok") for n in "abcd"}, monitors=[Blip()])
    result = runner.run("task")
    signals = [(e.step, e.signal) for e in result.trace.of_kind("health_signal")]  # type: ignore[union-attr]
    assert signals == [(1, "slow"), (3, "cleared")]
    report = runner.replay(result.trace)
    assert report.identical, report.describe()
