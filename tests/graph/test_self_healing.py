"""Self-healing routing scenarios: failures reroute with no LLM call; dead ends demote the
goal through one LLM call or escalate explicitly; nothing is skipped silently."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentroute import ConfigError
from agentroute.graph import TaskGraph
from agentroute.health import CircuitBreakerMonitor, RiskMonitor, RiskRule
from agentroute.models.openai_compat import OpenAICompatibleEndpoint
from agentroute.runtime import GraphResult, GraphRunner, NodeContext
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import Completion, ModelRequest
from tests.conftest import run

EDGES = [
    ("start", "search_a", 1.0), ("start", "search_b", 3.0),
    ("search_a", "summarize", 1.0), ("search_b", "summarize", 1.0),
    ("summarize", "report", 1.0), ("start", "cached_answer", 5.0),
]  # fmt: skip


def graph(**kw: Any) -> TaskGraph:
    return TaskGraph(EDGES, start="start", goal="report", **kw)


class Calls:
    """Handlers that record calls and fail on demand."""

    def __init__(self, failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.failing = set(failing)
        self.calls: list[str] = []

    def handler(self, name: str):  # type: ignore[no-untyped-def]
        async def h(ctx: NodeContext) -> Any:
            self.calls.append(name)
            if name in self.failing:
                raise ConnectionError(f"{name} is down")
            return {"node": name, "saw": sorted(ctx.results)}

        return h

    def all(self, g: TaskGraph) -> dict[str, Any]:
        return {n: self.handler(n) for n in g.nodes if n != g.start}


def assert_no_silent_failure(result: GraphResult) -> None:
    events = list(result.trace)
    for i, e in enumerate(events):
        if e.kind == "node_run" and not e.ok:  # type: ignore[union-attr]
            later = events[i + 1 :]
            assert any(
                (x.kind == "reroute" and x.failed == e.node)  # type: ignore[union-attr]
                or x.kind == "escalation"
                for x in later
            ), f"failure of {e.node} was neither rerouted nor escalated"  # type: ignore[union-attr]


def test_healthy_run_follows_the_cheapest_path() -> None:
    g = graph()
    calls = Calls()
    result = GraphRunner(g, calls.all(g)).run("write a report")
    assert result.status == "completed"
    assert result.path == ("start", "search_a", "summarize", "report")
    assert result.llm_calls == 0 and result.reroutes == 0
    assert result.results["summarize"]["saw"] == ["search_a"]
    [path] = result.trace.of_kind("path")
    assert path.cost == 3.0  # type: ignore[union-attr]


def test_failed_tool_is_routed_around_without_an_llm_call() -> None:
    g = graph()
    calls = Calls({"search_a"})
    result = GraphRunner(g, calls.all(g)).run("write a report")
    assert result.status == "completed"
    assert result.path == ("start", "search_b", "summarize", "report")
    assert calls.calls == ["search_a", "search_b", "summarize", "report"]
    assert result.llm_calls == 0 and result.reroutes == 1
    [reroute] = result.trace.of_kind("reroute")
    assert reroute.failed == "search_a"  # type: ignore[union-attr]
    assert reroute.new_path == ("start", "search_b", "summarize", "report")  # type: ignore[union-attr]
    [rw] = result.trace.of_kind("reweight")
    assert ("start", "search_a", 1.0, float("inf")) in rw.changes  # type: ignore[union-attr]
    assert_no_silent_failure(result)


def test_reroute_starts_from_where_the_task_stands() -> None:
    g = TaskGraph(
        [("s", "a", 1), ("a", "b", 1), ("b", "g", 1), ("a", "c", 2), ("c", "g", 1), ("s", "c", 10)],
        start="s",
        goal="g",
    )
    calls = Calls({"b"})
    result = GraphRunner(g, calls.all(g)).run("t")
    assert result.path == ("s", "a", "c", "g")
    assert calls.calls.count("a") == 1  # what already ran is not run again
    [reroute] = result.trace.of_kind("reroute")
    assert reroute.new_path[0] == "a"  # type: ignore[union-attr]


def _demoter(server: FakeModelServer):  # type: ignore[no-untyped-def]
    async def complete(req: ModelRequest) -> Completion:
        ep = OpenAICompatibleEndpoint(server.url, "judge")
        try:
            return await ep.complete(req, timeout_s=10)
        finally:
            await ep.aclose()

    return complete


def test_dead_end_demotes_the_goal_with_exactly_one_llm_call(server: FakeModelServer) -> None:
    g = graph(lesser_goals=["cached_answer"])
    calls = Calls({"search_a", "search_b"})
    server.script(Reply("Goal: cached_answer"))
    result = GraphRunner(g, calls.all(g), demoter=_demoter(server)).run("write a report")
    assert result.status == "demoted" and result.goal == "cached_answer"
    assert result.path == ("start", "cached_answer")
    assert result.llm_calls == 1 == len(server.calls())
    assert "cached_answer" in server.calls()[0].body["messages"][1]["content"]
    [esc] = result.trace.of_kind("escalation")
    assert esc.reason == "goal_demoted"  # type: ignore[union-attr]
    assert_no_silent_failure(result)


def test_dead_end_without_lesser_goal_escalates_explicitly(server: FakeModelServer) -> None:
    g = graph()
    calls = Calls({"search_a", "search_b"})
    result = GraphRunner(g, calls.all(g), demoter=_demoter(server)).run("write a report")
    assert result.status == "escalated"
    assert server.calls() == []  # nothing to choose from: no LLM call
    [esc] = result.trace.of_kind("escalation")
    assert esc.reason == "no_feasible_path"  # type: ignore[union-attr]
    assert esc.detail["excluded"] == ["search_a", "search_b"]  # type: ignore[union-attr]
    assert result.trace[-1].kind == "run_end"
    assert_no_silent_failure(result)


def test_llm_that_refuses_the_options_leads_to_escalation(server: FakeModelServer) -> None:
    g = graph(lesser_goals=["cached_answer"])
    server.script(Reply("Goal: something_else"))
    result = GraphRunner(g, Calls({"search_a", "search_b"}).all(g), demoter=_demoter(server)).run(
        "t"
    )
    assert result.status == "escalated" and result.llm_calls == 1
    assert "something_else" in result.reason


def test_breaker_state_is_shared_across_runs() -> None:
    g = graph()
    breaker = CircuitBreakerMonitor(failure_threshold=3, cooldown_s=1e9)
    calls = Calls({"search_a"})
    runner = GraphRunner(g, calls.all(g), monitors=[breaker])
    for _ in range(3):
        assert runner.run("t").status == "completed"
    assert calls.calls.count("search_a") == 3
    result = runner.run("t")
    assert calls.calls.count("search_a") == 3  # open breaker: not even tried
    [path] = result.trace.of_kind("path")
    assert "search_a" not in path.path  # type: ignore[union-attr]
    down = [e for e in result.trace.of_kind("health_signal") if e.down]  # type: ignore[union-attr]
    assert down and down[0].target == "search_a" and down[0].winner  # type: ignore[union-attr]


def test_risk_rule_keeps_a_node_out_of_the_plan() -> None:
    g = graph()
    risk = RiskMonitor([RiskRule(r"\bconfidential\b", ("search_a",), reason="external API")])
    calls = Calls()
    result = GraphRunner(g, calls.all(g), monitors=[risk]).run("summarize the confidential memo")
    assert "search_a" not in calls.calls
    assert result.path == ("start", "search_b", "summarize", "report")


def test_broken_monitor_is_traced_and_the_run_goes_on() -> None:
    class Broken:
        name = "broken"

        async def check(self, ctx):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

    g = graph()
    result = GraphRunner(g, Calls().all(g), monitors=[Broken()]).run("t")
    assert result.status == "completed"
    errs = [e for e in result.trace.of_kind("health_signal") if e.signal == "monitor_error"]  # type: ignore[union-attr]
    assert errs and "boom" in str(errs[0].detail)  # type: ignore[union-attr]


def test_slow_node_times_out_and_is_routed_around() -> None:
    g = graph()
    calls = Calls()
    handlers = calls.all(g)

    async def stuck(ctx: NodeContext) -> None:
        await asyncio.sleep(30)

    handlers["search_a"] = stuck
    result = GraphRunner(g, handlers, node_timeout_s=0.2).run("t")
    assert result.path == ("start", "search_b", "summarize", "report")
    [bad] = [e for e in result.trace.of_kind("node_run") if not e.ok]  # type: ignore[union-attr]
    assert bad.error_type == "TimeoutError"  # type: ignore[union-attr]


def test_retry_budget_per_node_before_exclusion() -> None:
    g = graph()
    attempts = {"n": 0}

    def flaky(ctx: NodeContext) -> str:
        attempts["n"] += 1
        if attempts["n"] < 2:
            raise ConnectionError("blip")
        return "ok"

    handlers = Calls().all(g)
    handlers["search_a"] = flaky
    result = GraphRunner(g, handlers, max_node_attempts=2).run("t")
    assert result.path == ("start", "search_a", "summarize", "report")
    assert attempts["n"] == 2 and result.reroutes == 0


def test_handlers_must_cover_the_graph() -> None:
    g = graph()
    with pytest.raises(ConfigError, match="no handler"):
        GraphRunner(g, {"search_a": lambda ctx: None})
    with pytest.raises(ConfigError, match="not in the graph"):
        GraphRunner(g, {**Calls().all(g), "ghost": lambda ctx: None})


def test_sync_handlers_work_too() -> None:
    g = TaskGraph([("s", "g")], start="s", goal="g")
    result = GraphRunner(g, {"g": lambda ctx: ctx.task.upper()}).run("done")
    assert result.results["g"] == "DONE"
    assert run(GraphRunner(g, {"g": lambda ctx: 1}).arun("x")).status == "completed"


def test_winning_escalate_signal_hands_the_task_to_a_human() -> None:
    g = graph()
    rule = RiskRule(r"wire \$\d+", ("search_a",), escalate=True, reason="payments need a human")
    calls = Calls()
    result = GraphRunner(g, calls.all(g), monitors=[RiskMonitor([rule])]).run("wire $5000 now")
    assert result.status == "escalated" and calls.calls == []
    [esc] = result.trace.of_kind("escalation")
    assert esc.reason == "health_escalation"  # type: ignore[union-attr]
    assert esc.detail["monitor"] == "risk"  # type: ignore[union-attr]
    [sig] = result.trace.of_kind("health_signal")
    assert sig.winner  # type: ignore[union-attr]


def test_handlers_report_rate_limit_headers_as_facts() -> None:
    from agentroute.health import RateLimitMonitor

    g = TaskGraph(
        [("s", "a", 1), ("a", "api", 1), ("a", "alt", 1.5), ("api", "g", 1), ("alt", "g", 1)],
        start="s",
        goal="g",
    )

    def a(ctx: NodeContext) -> str:
        ctx.facts["ratelimit:api"] = 0.9  # e.g. x-ratelimit-remaining is nearly 0
        return "a"

    result = GraphRunner(
        g,
        {"a": a, "api": lambda c: 1, "alt": lambda c: 2, "g": lambda c: 3},
        monitors=[RateLimitMonitor()],
    ).run("t")
    assert result.path == ("s", "a", "alt", "g")
    [reroute] = result.trace.of_kind("reroute")
    assert reroute.failed is None and "health" in reroute.reason  # type: ignore[union-attr]


def test_graph_traces_with_infinite_weights_save_verify_and_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import math

    from agentroute import Trace
    from agentroute.trace.chain import verify

    g = graph()
    result = GraphRunner(g, Calls({"search_a"}).all(g)).run("t")
    path = result.trace.save(tmp_path / "g.jsonl")
    for line in path.read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    verify(path)
    [rw] = Trace.load(path).of_kind("reweight")
    assert any(math.isinf(new) for *_, new in rw.changes)  # type: ignore[union-attr]
