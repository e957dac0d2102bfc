"""DriftMonitor: the stability index's components, the alarm, reading the trace, and the
engine routing away from a drifting agent."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from agentroute import Agent
from agentroute.errors import ConfigError
from agentroute.events import HandoffEvent, ModelCallEvent, OutputCheck, ToolCallEvent
from agentroute.graph import TaskGraph
from agentroute.health import DriftMonitor, DriftWeights, Interaction, stability_index
from agentroute.health.drift import (
    AlarmState,
    baseline_of,
    behavioural_bounds,
    coordination,
    embedding_similarity,
    next_alarm,
    ngram_similarity,
    response_consistency,
    tool_stability,
)
from agentroute.runtime import GraphRunner
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import fake_model, traced_signals

TASKS = ["refund order {n}", "where is parcel {n}", "send invoice {n} again"]
ANSWERS = [
    "your refund for order {n} was issued and arrives within five days",
    "parcel {n} left the warehouse and arrives on thursday",
    "invoice {n} was sent again to the address on your account",
]
TOOLS = ["lookup_order", "track_parcel", "find_invoice"]


def stable(n: int, agent: str = "a") -> Interaction:
    k = n % 3
    return Interaction(agent, TASKS[k].format(n=n), ANSWERS[k].format(n=n), (TOOLS[k],))


def erratic(n: int, agent: str = "a") -> Interaction:
    text = "as an ai language model i ponder the nature of everything " * (1 + n % 5)
    return Interaction(agent, TASKS[n % 3].format(n=n), text, ("web_search", "python"))


BASE = baseline_of([stable(n) for n in range(12)])


# -- components ---------------------------------------------------------------------------------
def test_ngram_similarity_is_one_for_the_same_text_and_low_for_unrelated_text() -> None:
    assert ngram_similarity("Parcel 12 left", "parcel  12 left") == 1.0
    assert ngram_similarity("parcel left the warehouse", "xyzzy qwop") < 0.05
    assert ngram_similarity("", "") == 1.0


def test_embedding_similarity_is_cosine_and_embeds_each_text_once() -> None:
    seen: list[str] = []

    def embed(text: str) -> list[float]:
        seen.append(text)
        return [1.0, 0.0] if "yes" in text else [0.0, 1.0]

    sim = embedding_similarity(embed)
    assert sim("yes", "yes indeed") == 1.0 and sim("yes", "no") == 0.0
    assert seen == ["yes", "yes indeed", "no"]


def test_response_consistency_compares_answers_to_comparable_tasks() -> None:
    assert response_consistency([stable(n) for n in range(100, 110)], BASE) > 0.9
    assert response_consistency([erratic(n) for n in range(100, 110)], BASE) < 0.3
    # the same answers given to the wrong tasks are less consistent than to the right ones
    swapped = [Interaction("a", TASKS[(n + 1) % 3].format(n=n), ANSWERS[n % 3].format(n=n))
               for n in range(100, 110)]  # fmt: skip
    assert response_consistency(swapped, BASE) < 0.6


def test_tool_stability_is_one_minus_the_js_divergence() -> None:
    assert tool_stability([stable(n) for n in range(30)], BASE) == pytest.approx(1.0)
    assert tool_stability([erratic(n) for n in range(10)], BASE) == 0.0  # disjoint tools
    # calling no tool at all is a shift too
    bare = [Interaction("a", "t", "x") for _ in range(10)]
    assert tool_stability(bare, BASE) == 0.0
    half = [stable(n) if n % 2 else bare[0] for n in range(12)]
    assert 0.2 < tool_stability(half, BASE) < 0.8


def test_coordination_counts_handoffs_reroutes_and_failovers_beyond_the_baseline() -> None:
    window = [stable(n) for n in range(10)]
    assert coordination(window, BASE) == 1.0
    window[:4] = [
        Interaction("a", "t", None, handoffs=1),
        Interaction("a", "t", rerouted=True),
        Interaction("a", "t", "x", failovers=1),
        Interaction("a", "t", "x", off_role=1),
    ]
    assert coordination(window, BASE) == pytest.approx(0.6)
    # an agent that always handed some work on in its baseline is not penalised for it
    usual = baseline_of([Interaction("a", "t", "x", handoffs=n % 2) for n in range(10)])
    assert (
        coordination([Interaction("a", "t", "x", handoffs=n % 2) for n in range(10)], usual) == 1.0
    )


def test_behavioural_bounds_see_length_new_errors_and_people() -> None:
    assert behavioural_bounds([stable(n) for n in range(10)], BASE) == 1.0
    long = [Interaction("a", "t", ANSWERS[0] * 20) for _ in range(10)]
    assert behavioural_bounds(long, BASE) == pytest.approx(2 / 3)
    errors = [Interaction("a", "t", ANSWERS[0], errors=("ToolError",)) for _ in range(10)]
    assert behavioural_bounds(errors, BASE) == pytest.approx(2 / 3)
    paused = [Interaction("a", "t", ANSWERS[0], interventions=1) for _ in range(5)]
    assert behavioural_bounds(paused + [stable(1)] * 5, BASE) == pytest.approx(5 / 6)


def test_the_index_is_the_weighted_mean_of_its_components() -> None:
    window = [erratic(n) for n in range(10)]
    idx = stability_index(window, BASE)
    parts = (idx.consistency, idx.tools, idx.coordination, idx.bounds)
    assert idx.asi == pytest.approx(
        sum(w * p for w, p in zip((0.35, 0.25, 0.15, 0.25), parts, strict=True))
    )
    only_tools = stability_index(window, BASE, DriftWeights(0, 1, 0, 0))
    assert only_tools.asi == only_tools.tools == 0.0
    assert stability_index([stable(n) for n in range(10)], BASE).asi > 0.95
    with pytest.raises(ConfigError):
        DriftWeights(consistency=-1)
    with pytest.raises(ConfigError):
        DriftWeights(0, 0, 0, 0)


# -- the alarm ----------------------------------------------------------------------------------
def test_next_alarm_needs_patience_to_rise_and_recover_windows_to_clear() -> None:
    s = AlarmState()
    seen = []
    for asi in (0.5, 0.9, 0.5, 0.5, 0.5, 0.9, 0.5, 0.9, 0.9):
        s = next_alarm(s, asi, threshold=0.7, patience=3, recover=2)
        seen.append(s.alarmed)
    assert seen == [False, False, False, False, True, True, True, True, False]


def feed(m: DriftMonitor, items: list[Interaction]) -> list[bool]:
    return [m.record(i) is not None and m.alarmed(i.agent) for i in items]


def test_a_stable_agent_raises_no_alarm() -> None:
    m = DriftMonitor(window=6, stride=3, baseline=9, patience=2)
    feed(m, [stable(n) for n in range(300)])
    assert not m.alarmed("a") and m.index("a") is not None and m.index("a").asi > 0.9  # type: ignore[union-attr]
    assert m._answer == ()


def test_the_alarm_fires_after_patience_low_windows_and_recovers() -> None:
    m = DriftMonitor(window=6, stride=3, baseline=9, patience=2, recover=2)
    feed(m, [stable(n) for n in range(30)])
    windows = [m.record(erratic(n)) for n in range(9)]
    scored = [w for w in windows if w is not None]
    assert len(scored) == 3 and all(w.asi < 0.75 for w in scored[1:])
    # the first window (half stable) and the second (all erratic) were low: alarm after 2
    assert m.alarmed("a")
    [signal] = m._answer
    assert (signal.target, signal.kind, signal.multiplier, signal.down) == (
        "a",
        "drift",
        10.0,
        False,
    )
    assert signal.detail["asi"] < 0.75
    # back to its old self: one good window is not enough, two clear the alarm
    feed(m, [stable(n) for n in range(6)])
    assert m.alarmed("a")
    feed(m, [stable(n) for n in range(6, 9)])
    assert not m.alarmed("a") and m._answer == ()


def test_reset_forgets_an_agent_and_down_takes_it_out() -> None:
    m = DriftMonitor(window=4, stride=2, baseline=4, patience=1, down=True)
    feed(m, [stable(n) for n in range(4)] + [erratic(n) for n in range(4)])
    [signal] = m._answer
    assert signal.down and signal.multiplier == 1.0
    m.reset("a")
    assert not m.alarmed("a") and m._answer == () and m.index("a") is None


# -- the trace ----------------------------------------------------------------------------------
def test_interactions_are_read_from_the_trace() -> None:
    seq = itertools.count()

    def ev(cls: Any, **kw: Any) -> Any:
        return cls(run_id="r", seq=next(seq), ts=1.0, **kw)

    def call(agent: str, text: str, tools: list[dict[str, Any]] | None = None) -> Any:
        response = {"text": text, "tool_calls": tools or []}
        return ev(ModelCallEvent, agent=agent, provider="p", model="m", attempt=1, ok=True,
                  latency_s=0.1, response=response)  # fmt: skip

    m = DriftMonitor()
    first = [
        call("a", "", [{"id": "1", "name": "lookup", "arguments": "{}"}]),
        ev(ToolCallEvent, agent="a", tool="lookup", call_id="1", ok=False, latency_s=0.0),
        call("a", "not json"),
        ev(OutputCheck, agent="a", model="m", ok=False, error="bad"),
    ]
    assert m.observe("r", "the task", first) == []  # the answer was sent back: not over yet
    second = [call("a", '{"ok": 1}'), ev(HandoffEvent, agent="b", to="a")]
    b, a = m.observe("r", "the task", second)
    assert b == Interaction("b", "the task", handoffs=1)
    assert a == Interaction("a", "the task", '{"ok": 1}', ("lookup",), ("ToolError",), off_role=1)


def test_the_engine_routes_away_from_a_drifting_agent(server: FakeModelServer) -> None:
    """Two agents can answer; the cheaper one drifts after its sixth answer. After the alarm
    (two low windows) the plan goes to the other one, and the drift signal is in the trace."""
    calls = {"a": 0}

    def responder(body: dict[str, Any]) -> Reply:
        task = body["messages"][-1]["content"]
        n = int(re.findall(r"\d+", task)[0])
        if body["model"] == "a":
            calls["a"] += 1
            if calls["a"] > 6:  # drifts: off topic, at a length all over the place
                return Reply("as an ai i ponder the nature of parcels and refunds " * (2 + n % 7))
        return Reply(ANSWERS[n % 3].format(n=n))

    server.responder = responder
    graph = TaskGraph([("start", "agent_a", 1.0), ("start", "agent_b", 3.0),
                       ("agent_a", "reply", 1.0), ("agent_b", "reply", 1.0)],
                      start="start", goal="reply")  # fmt: skip
    drift = DriftMonitor(window=4, stride=2, baseline=4, patience=2, recover=1)
    runner = GraphRunner(
        graph,
        {"agent_a": Agent("agent_a", "answers", models=[fake_model(server, "a")]),
         "agent_b": Agent("agent_b", "answers", models=[fake_model(server, "b")]),
         "reply": lambda ctx: ctx.results[ctx.previous]},
        monitors=[drift],
    )  # fmt: skip
    answered_by, alarmed_after = [], None
    for n in range(16):
        result = runner.run(TASKS[n % 3].format(n=n))
        assert result.status == "completed"
        answered_by.append(result.path[1])
        if alarmed_after is None and drift.alarmed("agent_a"):
            alarmed_after = n
        elif alarmed_after is not None and n == alarmed_after + 1:
            signals = traced_signals(result.trace)
            assert [s[1:] for s in signals] == [("drift", "agent_a", "drift", False)]
    assert alarmed_after is not None
    # baseline: runs 0-3; it drifts from run 6 on; windows after runs 7 (half drifted), 9 and
    # 11: two low windows in a row are needed
    assert alarmed_after in (9, 11)
    assert answered_by[: alarmed_after + 1] == ["agent_a"] * (alarmed_after + 1)
    assert answered_by[alarmed_after + 1 :] == ["agent_b"] * (15 - alarmed_after)
    assert not drift.alarmed("agent_b")
    assert drift.index("agent_a") is not None and drift.index("agent_a").asi < 0.75  # type: ignore[union-attr]
