"""A person in the loop: a tool that needs approval pauses the run; the run goes on from its
checkpoint once someone decides, in another process too, inside the same budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, RetryPolicy, tool
from agentroute.errors import AgentrouteError, ConfigError
from agentroute.events import (
    DecisionEvent,
    Escalation,
    PauseEvent,
    ResumeEvent,
    RunEnd,
    ToolCallEvent,
)
from agentroute.graph import TaskGraph
from agentroute.runtime import GraphRunner, NodeContext, Pause
from agentroute.testing import Fail, FakeModelServer, Reply
from agentroute.types import Completion, ModelRequest, Usage
from tests.conftest import FAST_RETRY, ROOT

REFUND_CALL = Reply("", tool_calls=(("refund", {"order_id": "A7", "amount": 49.9}),))


def support(url: str, ledger: list[str]) -> Pipeline:
    @tool(approval=True)
    def refund(order_id: str, amount: float) -> str:
        """Refund an order (a person approves each refund)."""
        ledger.append(f"{order_id}:{amount}")
        return "refunded"

    model = Model.openai_compatible(url, "m", price_in=1.0, price_out=2.0, retry=FAST_RETRY)
    agent = Agent("billing", "refunds", models=[model], tools=[refund])
    return Pipeline([agent], policy=FixedTierPolicy("small"), budget_usd=0.05)


def test_a_tool_that_needs_approval_pauses_the_run_before_it_runs(
    server: FakeModelServer,
) -> None:
    server.script(REFUND_CALL)
    ledger: list[str] = []
    result = support(server.url, ledger).run("refund order A7 please")
    assert ledger == [] and result.output == "" and result.paused is not None
    q = result.paused.question
    assert (q["kind"], q["agent"], q["tool"]) == ("approve_tool", "billing", "refund")
    assert json.loads(q["arguments"]) == {"order_id": "A7", "amount": 49.9}
    assert result.trace.events(PauseEvent)[0].question == q
    assert result.trace.events(RunEnd)[0].status == "paused"
    assert not result.trace.events(ToolCallEvent)


def test_an_approved_refund_runs_in_another_process_from_the_saved_checkpoint(
    server: FakeModelServer, tmp_path: Path
) -> None:
    server.script(REFUND_CALL, Reply("Your refund of 49.90 is on its way."))
    first = support(server.url, []).run("refund order A7 please")
    assert first.paused is not None
    saved = first.paused.save(tmp_path / "pause.json")
    script = tmp_path / "resume.py"
    script.write_text(
        textwrap.dedent(f"""
        import json, sys
        from agentroute.runtime import Pause
        from tests.test_approval import support
        ledger = []
        result = support({server.url!r}, ledger).resume(Pause.load({str(saved)!r}), "approve")
        kinds = [e.kind for e in result.trace]
        print(json.dumps({{"output": result.output, "ledger": ledger, "kinds": kinds,
                          "cost": result.cost_usd}}))
    """)
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120, check=True)  # fmt: skip
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["output"] == "Your refund of 49.90 is on its way."
    assert got["ledger"] == ["A7:49.9"]  # the tool ran once, in the other process
    assert {"resume", "decision", "tool_call", "run_end"} <= set(got["kinds"])
    assert got["cost"] > first.cost_usd > 0  # the spend before the pause still counts


def test_a_declined_call_is_reported_to_the_model_which_answers_without_it(
    server: FakeModelServer,
) -> None:
    server.script(REFUND_CALL, Reply("I cannot refund that order, sorry."))
    ledger: list[str] = []
    pipeline = support(server.url, ledger)
    first = pipeline.run("refund order A7 please")
    assert first.paused is not None
    result = pipeline.resume(first.paused, "reject", "over the limit")
    assert ledger == [] and result.output == "I cannot refund that order, sorry."
    told = server.calls()[-1].body["messages"][-1]
    assert told["role"] == "tool"
    assert told["content"] == "error: a person declined this call: over the limit"
    (decision,) = result.trace.events(DecisionEvent)
    assert (decision.decision, decision.why) == ("reject", "over the limit")
    assert result.trace.events(ResumeEvent)[0].spent_usd == pytest.approx(first.cost_usd)


def test_a_cancelled_task_ends_escalated_and_a_wrong_decision_is_a_typed_error(
    server: FakeModelServer,
) -> None:
    server.script(REFUND_CALL)
    pipeline = support(server.url, [])
    first = pipeline.run("refund order A7 please")
    assert first.paused is not None
    with pytest.raises(ConfigError, match="takes"):
        pipeline.resume(first.paused, "maybe")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        pipeline.resume(Pause(first.paused.question, {"version": 9}), "approve")
    with pytest.raises(AgentrouteError, match="cancelled"):
        pipeline.resume(first.paused, "cancel", "customer withdrew")


def test_an_escalation_waits_for_a_person_who_answers_in_the_tasks_place(
    server: FakeModelServer,
) -> None:
    server.script(Fail(500), Fail(500))  # the agent's only model is down: nothing is left
    once = RetryPolicy(max_attempts=1)
    model = Model.openai_compatible(server.url, "m", price_in=1.0, price_out=2.0, retry=once)
    pipeline = Pipeline([Agent("billing", "refunds", models=[model])],
                        policy=FixedTierPolicy("small"), escalate_to="person")  # fmt: skip
    first = pipeline.run("refund order A7")
    assert first.paused is not None and first.paused.question["kind"] == "escalation"
    assert first.trace.events(Escalation) and first.trace.events(RunEnd)[0].status == "paused"
    with pytest.raises(ConfigError, match="takes"):
        pipeline.resume(first.paused, "approve")  # not a question about a tool call
    result = pipeline.resume(first.paused, "answer", "A person refunded it by hand.")
    assert result.output == "A person refunded it by hand." and result.paused is None
    assert result.trace.events(DecisionEvent)[0].decision == "answer"


def test_a_person_sends_a_stuck_graph_run_to_a_lesser_goal() -> None:
    edges = [("start", "payments_api", 1.0), ("payments_api", "refunded", 1.0),
             ("start", "ticket", 5.0)]  # fmt: skip
    g = TaskGraph(edges, start="start", goal="refunded", lesser_goals=["ticket"])

    def broken(ctx: NodeContext) -> str:
        raise RuntimeError("payments are down")

    async def judge(request: ModelRequest) -> Completion:  # the demoter LLM gives up
        return Completion(text="Goal: escalate", model="judge", provider="function",
                          usage=Usage())  # fmt: skip

    handlers = {"payments_api": broken, "refunded": lambda ctx: "ok", "ticket": lambda ctx: "T-1"}
    runner = GraphRunner(g, handlers, demoter=judge, escalate_to="person")
    first = runner.run("refund order A7")
    assert first.status == "paused" and first.paused is not None
    assert first.paused.question["goals"] == ["ticket"]
    with pytest.raises(ConfigError, match="not one of the lesser goals"):
        runner.resume(first.paused, "goal", "refunded")
    done = runner.resume(first.paused, "goal", "ticket")
    assert (done.status, done.goal, done.path[-1], done.output) == (
        "demoted", "ticket", "ticket", "T-1")  # fmt: skip
