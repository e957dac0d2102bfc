"""The outline `agentroute trace show` draws: real traces from runs against the fake server,
one line per event nested under the event it happened under, and data kept as text."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any, Literal

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, RetryPolicy
from agentroute.agents import tool
from agentroute.events import (
    EVENT_ADAPTER,
    EVENT_KINDS,
    EventBase,
    ModelCallEvent,
    RunEnd,
    RunStart,
)
from agentroute.testing import Break, Fail, FakeModelServer, Reply
from agentroute.trace import Trace
from agentroute.trace.outline import (
    ELLIPSIS,
    FORMATS,
    MAX_DEPTH,
    MAX_LINE,
    UNFINISHED,
    Line,
    clean,
    describe,
    json_line,
    outline,
)
from tests.conftest import fake_model, run

HOSTILE = "[bold red]x[/] \x1b[31mred\x1b]0;owned\x07 \u202eevil \x9b2J"
RAW = re.compile(r"[\x00-\x1f\x7f-\x9f\u202e]")


@tool
def lookup(order: str) -> str:
    """Look an order up."""
    return f"order {order}: shipped {HOSTILE}"


def failover_with_a_tool(server: FakeModelServer) -> Trace:
    """Model ``a`` always fails (three attempts), the run fails over to ``b``, which calls the
    tool, then answers."""

    def respond(body: dict[str, Any]) -> Reply | Fail:
        if body["model"] == "a":
            return Fail(500)
        if body["messages"][-1]["role"] == "tool":
            return Reply("It shipped.\nMore detail below.")
        return Reply("", tool_calls=(("lookup", {"order": "42"}),))

    server.responder = respond
    agent = Agent("support", "orders", models=[fake_model(server, "a"), fake_model(server, "b")],
                  tools=[lookup])  # fmt: skip
    pipeline = Pipeline([agent], router="first", policy=FixedTierPolicy("small"), budget_usd=0.5)
    return pipeline.run("where is order 42? [bold]now[/]").trace


def _at(lines: list[Line], kind: str) -> list[Line]:
    return [x for x in lines if x.kind == kind]


def _parent_line(lines: list[Line], i: int) -> Line | None:
    """The nearest line above line ``i`` that is one level up."""
    for above in reversed(lines[:i]):
        if above.depth < lines[i].depth:
            return above
    return None


def test_a_failover_with_a_tool_call_nests_under_the_route_and_its_nodes(
    server: FakeModelServer,
) -> None:
    trace = failover_with_a_tool(server)
    lines = outline(trace)
    assert len([x for x in lines if x.seq is not None]) == len(trace)  # one line per event
    top = lines[0]
    assert (top.depth, top.kind) == (0, "run_start")
    for word in ('"where is order 42? [bold]now[/]"', "router first", "budget $0.5", "support"):
        assert word in top.text
    (route,) = _at(lines, "route")
    assert route.depth == 1 and "route by first: support · first declared agent" in route.text
    nodes = [(x.depth, x.text) for x in _at(lines, "node")]
    assert (2, "node support@openai:a") in nodes and (2, "node support@openai:b") in nodes
    calls = _at(lines, "model_call")
    assert [x.depth for x in calls] == [3, 3, 3, 3, 3]
    assert all("error ServerError 500" in x.text and x.style == "red" for x in calls[:3])
    assert "(attempt 3)" in calls[2].text
    assert "call openai:b: ok" in calls[4].text and "10 in / 5 out tokens" in calls[4].text
    (reroute,) = _at(lines, "reroute")
    assert reroute.depth == 2 and "support@openai:a failed" in reroute.text
    assert "now ^start → ^route → support → support@openai:b → ^done" in reroute.text
    (switch,) = [x for x in _at(lines, "model_switch") if "failover" in x.text]
    assert switch.depth == 3 and "openai:a → openai:b" in switch.text
    assert _parent_line(lines, lines.index(switch)) == Line(
        2, "node support@openai:b", "bold blue", "node"
    )
    (used,) = _at(lines, "tool_call")
    assert used.depth == 3 and used.text.startswith("tool lookup(order=42): ok → order 42:")
    assert "shipped [bold red]x[/] \\x1b[31mred\\x1b]0;owned\\x07… · " in used.text  # cut short
    end = lines[-1]
    assert (end.depth, end.kind) == (0, "run_end")
    for word in ('end ok: "It shipped.…"', "of $0.5", "5 calls", "20 in / 10 out tokens"):
        assert word in end.text


def test_every_event_line_sits_under_the_event_it_happened_under(
    server: FakeModelServer,
) -> None:
    trace = failover_with_a_tool(server)
    by_seq = {e.seq: e for e in trace}
    lines = outline(trace)
    for i, line in enumerate(lines):
        if line.seq is None or line.depth == 0:
            continue
        above = _parent_line(lines, i)
        while above is not None and above.seq is None:  # a node line: its events' parent is up
            above = _parent_line(lines, lines.index(above))
        parent = by_seq[line.seq].parent
        assert above is not None and above.seq == (parent if parent is not None else 0), line


def test_kind_filtering_keeps_the_nesting_through_the_events_left_out(
    server: FakeModelServer,
) -> None:
    lines = outline(failover_with_a_tool(server), {"run_start", "tool_call", "reroute"})
    assert [(x.depth, x.kind) for x in lines] == [
        (0, "run_start"),
        (1, "reroute"),  # its parent, the route, is left out: it hangs under the run
        (1, "node"),
        (2, "tool_call"),
    ]
    only = outline(failover_with_a_tool(server), {"model_call"})
    assert {x.kind for x in only} == {"node", "model_call"}
    assert min(x.depth for x in only) == 0


ANSWER = "Refunds go back to the card you paid with within five working days of the return."


def test_a_broken_stream_shows_as_partial_then_continued(server: FakeModelServer) -> None:
    def continues(body: dict[str, Any]) -> Reply:
        msgs = body["messages"]
        before = msgs[-1]["content"] if msgs[-1]["role"] == "assistant" else ""
        before = before or (msgs[-2]["content"] if msgs[-2]["role"] == "assistant" else "")
        return Reply(ANSWER[len(before) :])

    server.script(Break(Reply(ANSWER), after=5))
    server.responder = continues
    twice = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02,
                        attempt_timeout_s=5.0, deadline_s=10.0)  # fmt: skip
    pipeline = Pipeline([Agent("support", "refunds", models=[fake_model(server, retry=twice)])])

    async def go() -> Any:
        stream = pipeline.stream("how do refunds work?")
        _ = [item async for item in stream]
        return await stream.result()

    result = run(go())
    first, second = result.trace.events(ModelCallEvent)
    calls = _at(outline(result.trace), "model_call")
    assert "error" in calls[0].text and "streamed" in calls[0].text
    assert f"partial: broke after {len(first.partial or '')} chars" in calls[0].text
    assert "ok" in calls[1].text and "streamed" in calls[1].text
    assert f"continues the broken answer at char {second.continues}" in calls[1].text
    assert "streamed" in outline(result.trace)[0].text


def test_a_handoff_says_who_hands_to_whom_and_why(server: FakeModelServer) -> None:
    def model(name: str) -> Model:
        return fake_model(server, name)

    server.script(Reply("", tool_calls=(("transfer_to_billing", {"reason": "a refund"}),)),
                  model="t")  # fmt: skip
    server.script(Reply("Refund sent."), model="b")
    agents = [
        Agent("triage", "first contact", models=[model("t")], handoffs=["billing"]),
        Agent("billing", "refunds", models=[model("b")]),
    ]
    result = Pipeline(agents, router="first", policy=FixedTierPolicy("small")).run("refund")
    (handoff,) = _at(outline(result.trace), "handoff")
    assert handoff.text == "handoff: triage → billing · a refund" and handoff.depth >= 2


# -- every kind, and data that is not text ---------------------------------------------------
BASE = {"run_id": "r1", "ts": 1.0}
SAMPLES: dict[str, dict[str, Any]] = {
    "run_start": {"task": "t", "agents": ["a"], "router": "first", "budget_usd": 0.01},
    "run_end": {"status": "error", "error_type": "RoutingError", "error": "no path",
                "cost_usd": 0.0, "input_tokens": 0, "output_tokens": 0, "model_calls": 0,
                "wall_s": 1.5},
    "route": {"router": "embedding", "candidates": ["a", "b"], "chosen": ["a"],
              "scores": {"a": 0.9, "b": 0.2}, "reason": "closest"},
    "model_call": {"provider": "openai", "model": "openai:m", "attempt": 2, "ok": False,
                   "latency_s": 0.2, "error_type": "RateLimitedError", "status": 429,
                   "retry_after_s": 1.0, "purpose": "probe"},
    "retry": {"model": "openai:m", "attempt": 1, "wait_s": 0.5, "error_type": "ServerError"},
    "replica_pick": {"model": "openai:m", "policy": "dualmap", "attempt": 2,
                     "candidates": ["h:1", "h:2"], "chosen": "h:2", "rule": "slo",
                     "reason": "h:1: TTFT 3s passes the 2s SLO", "in_flight": [4, 1],
                     "ttft_s": [3.0, 0.5], "health": [1.0, 1.0], "avoided": ["h:3"]},
    "adapter_pick": {"model": "openai:m", "chosen": "sql", "scores": {"sql": 0.9},
                     "resident": ["sql"], "paged": False, "paging_s": 0.0,
                     "reason": "sql is resident"},
    "tool_call": {"tool": "pay", "call_id": "c", "ok": False, "latency_s": 0.01,
                  "error": "card declined"},
    "budget_reserve": {"model": "m", "amount_usd": 0.001, "spent_usd": 0.0,
                       "reserved_usd": 0.001, "limit_usd": None, "max_tokens": 64},
    "budget_settle": {"model": "m", "reserved_usd": 0.001, "actual_usd": 0.002,
                      "spent_usd": 0.002, "overshoot_usd": 0.001},
    "budget_refused": {"model": "m", "requested_usd": 0.5, "remaining_usd": 0.1},
    "model_switch": {"policy": "entropy", "from_model": "small", "to_model": "large",
                     "reason": "unsure"},
    "escalation": {"reason": "no feasible path", "detail": {"goal": "^done"}},
    "handoff": {"agent": "a", "to": "b", "reason": "billing"},
    "round": {"round": 2, "action": "route", "model": "local:small", "query": "legs of a spider?",
              "effect": "cost weight 0.5: local:small ranks 1 of 2 by value"},
    "pause": {"question": {"kind": "approve_tool", "tool": "pay", "arguments": {"x": 1}}},
    "decision": {"question": {"kind": "approve_tool"}, "decision": "reject", "why": "too much"},
    "output_check": {"model": "m", "ok": False, "error": "field x missing"},
    "health_signal": {"monitor": "latency", "target": "a@m", "signal": "slow", "priority": 1.0,
                      "multiplier": 4.0, "down": False},
    "health_state": {"signals": [{"monitor": "errors", "target": "a@m", "signal": "failing",
                                  "priority": 1.0, "multiplier": 1e9, "down": True}]},
    "reweight": {"changes": [["a", "a@m", 1.0, float("inf")]]},
    "path": {"source": "^start", "goal": "^done", "path": ["^start", "a", "^done"], "cost": 2.0},
    "reroute": {"failed": "a@m", "reason": "a@m failed", "old_path": ["^start", "a@m"],
                "new_path": ["^start", "a@n"], "new_cost": 3.0},
    "fanout": {"join": "j", "source": "s", "branches": ["x", "y"]},
    "node_run": {"node": "fetch", "attempt": 1, "ok": True, "latency_s": 2.5,
                 "result": {"rows": 3}},
    "ant_step": {"stage": 1, "previous": "^start", "chosen": "a", "probabilities": {"a": 0.75}},
    "pheromone_update": {"path": ["^start", "a"], "quality": 0.8, "cost": 1.0,
                         "passed_gate": True},
    "agent_run": {"agent": "lg", "task": "t", "ok": True, "latency_s": 0.1, "output": "done"},
    "resume": {"thread_id": "th", "checkpoint_id": "ck", "done_steps": 3, "spent_usd": 0.01,
               "model_calls": 2, "next_nodes": ["b"]},
    "task_retry": {"task_id": "tk", "attempt": 2, "charged_before_usd": 0.02},
}  # fmt: skip
EXPECTED = {
    "run_start": 'run r1: "t" · router first · budget $0.01 · agents a',
    "run_end": "end error RoutingError: no path · $0 of no limit · 0 calls",
    "route": "route by embedding: a of 2 · closest · scores a 0.9, b 0.2",
    "model_call": "call openai:m (probe, attempt 2): error RateLimitedError 429 · 200 ms",
    "retry": "retry openai:m after attempt 1 (ServerError) in 500 ms",
    "replica_pick": "replica of openai:m by dualmap: h:2 (attempt 2) · slo: h:1: TTFT 3s passes "
    "the 2s SLO · avoided h:3",
    "adapter_pick": "adapter of openai:m: sql · sql is resident · resident sql",
    "tool_call": "tool pay(): error card declined",
    "budget_reserve": "budget: reserve $0.001 for m (64 tokens max) · spent $0 of no limit",
    "budget_settle": "overshoot $0.001",
    "budget_refused": "budget: refused m: needs $0.5, $0.1 left",
    "model_switch": "model switch (entropy): small → large · unsure",
    "escalation": "escalation: no feasible path · goal=^done",
    "handoff": "handoff: a → b · billing",
    "round": 'round 2: route to local:small · "legs of a spider?" · cost weight 0.5: '
    "local:small ranks 1 of 2 by value",
    "pause": 'pause: waits for a person · approve_tool (tool=pay, arguments={"x": 1})',
    "decision": 'decision: reject · "too much" · on approve_tool',
    "output_check": "output check m: error field x missing",
    "health_signal": "health: latency: a@m slow (×4, reweight)",
    "health_state": "health: 1 signal(s) in force: errors: a@m failing (×1e+09, reweight, down)",
    "reweight": "reweight: a→a@m 1→∞",
    "path": "path: ^start → a → ^done · cost 2",
    "reroute": "reroute: a@m failed · now ^start → a@n · cost 3",
    "fanout": "fan out from s to x, y, joined at j",
    "node_run": 'ran fetch: ok → {"rows": 3} · 2.50 s',
    "ant_step": "ant step 1: ^start → a (p 0.75)",
    "pheromone_update": "pheromone update: quality 0.8, cost 1, gate passed, 0 edge(s) moved",
    "agent_run": 'agent program lg: ok → "done"',
    "resume": "resume thread th from checkpoint ck · 3 steps done, 2 calls, $0.01 spent · next b",
    "task_retry": "task retry: tk attempt 2 · $0.02 charged before",
}


def _sample(kind: str, seq: int = 1, **more: Any) -> Any:
    return EVENT_ADAPTER.validate_python({**BASE, "seq": seq, "kind": kind, **SAMPLES[kind],
                                          **more})  # fmt: skip


def test_every_event_kind_has_its_own_line() -> None:
    assert set(FORMATS) == set(EVENT_KINDS) == set(SAMPLES) == set(EXPECTED)
    for kind in EVENT_KINDS:
        text, _style = describe(_sample(kind))
        assert EXPECTED[kind] in text, (kind, text)
        assert "\n" not in text and len(text) <= MAX_LINE


class Custom(EventBase):
    kind: Literal["custom"] = "custom"
    colour: str
    size: int


def test_an_unknown_kind_falls_back_to_its_fields() -> None:
    text, style = describe(Custom(run_id="r", seq=0, ts=1.0, colour="[red]x[/]\x1b", size=3))
    assert (text, style) == ("custom: colour=[red]x[/]\\x1b, size=3", "")


def test_every_string_from_the_trace_is_cleaned_and_cut() -> None:
    for kind in EVENT_KINDS:
        text, _ = describe(_sample(kind, agent=HOSTILE))
        assert not RAW.search(text), kind
    huge = "y" * 5000 + "\x1b"
    start = _sample("run_start", task=huge, router=huge)
    text, _ = describe(start)
    assert len(text) < 400 and text.count(ELLIPSIS) == 2 and "\x1b" not in text
    lines = outline([start, _sample("tool_call", seq=2, result=json.dumps(HOSTILE), tool=huge)])
    assert not any(RAW.search(x.text) for x in lines)


def test_clean_shows_controls_and_never_cuts_an_escape_in_half() -> None:
    assert clean("a\x1b[2Jb\n\t\u202e\x9b") == "a\\x1b[2Jb\\n\\t\\u202e\\x9b"
    assert clean("[bold]x[/]") == "[bold]x[/]"
    assert clean("abc\x1bdef", limit=5) == "abc" + ELLIPSIS
    assert clean("abcdef", limit=6) == "abcdef" and clean("abcdefg", limit=6) == "abcdef…"


def test_events_without_parents_hang_under_their_run_in_order() -> None:
    start = _sample("run_start", seq=0)
    calls = [_sample("model_call", seq=i) for i in (1, 2)]
    loop = _sample("retry", seq=3, parent=3)  # its own parent: no loop, under the run
    ahead = _sample("retry", seq=4, parent=9)  # a parent from the future: the same
    end = _sample("run_end", seq=5)
    lines = outline([start, *calls, loop, ahead, end])
    assert [(x.depth, x.seq) for x in lines] == [(0, 0), (1, 1), (1, 2), (1, 3), (1, 4), (0, 5)]


def test_a_run_without_its_end_says_so_and_a_deep_chain_is_clamped() -> None:
    chain = [_sample("run_start", seq=0)]
    chain += [_sample("retry", seq=i, parent=i - 1) for i in range(1, 40)]
    lines = outline(chain)
    assert max(x.depth for x in lines) == MAX_DEPTH
    assert all(b.depth <= a.depth + 1 for a, b in itertools.pairwise(lines))
    assert lines[-1] == Line(0, UNFINISHED, "bold red", "run_end")


def test_the_summary_reads_the_budget_from_the_start() -> None:
    ok = _sample("run_end", seq=2, status="ok", output="\n\nFirst line\nsecond", cost_usd=0.004,
                 model_calls=3, input_tokens=30, output_tokens=12, wall_s=0.25)  # fmt: skip
    lines = outline([_sample("run_start", seq=0), ok])
    assert lines[-1].text == (
        'end ok: "First line…" · $0.004 of $0.01 · 3 calls · 30 in / 12 out tokens · 250 ms'
    )
    assert isinstance(ok, RunEnd) and isinstance(_sample("run_start"), RunStart)


def test_json_line_is_the_same_json_with_nothing_a_terminal_acts_on() -> None:
    record = {"kind": "tool_call", "result": HOSTILE, "n": 1.5, "ü": "é"}
    line = json_line(record)
    assert json.loads(line) == record and not RAW.search(line)
    assert '"ü":"é"' in line  # readable text stays as it is


def test_two_runs_in_one_file_each_end_after_their_own_events() -> None:
    first = [_sample("run_start", seq=0), _sample("model_call", seq=1, parent=0),
             _sample("run_end", seq=2)]  # fmt: skip
    second = [_sample("run_start", seq=0, run_id="r2"),
              _sample("model_call", seq=1, run_id="r2", parent=0)]  # fmt: skip
    lines = outline([*first, *second])
    assert [(x.depth, x.kind) for x in lines] == [
        (0, "run_start"), (1, "model_call"), (0, "run_end"),
        (0, "run_start"), (1, "model_call"), (0, "run_end"),
    ]  # fmt: skip
    assert lines[3].text.startswith("run r2:") and lines[-1].text == UNFINISHED
