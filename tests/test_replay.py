"""Replay: the same decisions from recorded responses, with no model call; planted changes
are reported at the step where they bite."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from agentroute import Trace
from agentroute.events import AntStepEvent, ModelCallEvent
from agentroute.testing import Fail, FakeModelServer, Reply
from tests import replay_fixture
from tests.conftest import run_cli


def record(server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPLAY_FIXTURE_URL", server.url)
    server.script(
        Reply("Reason: double charge\nAgents: billing, shipping"),
        Fail(429, retry_after=0.01),
        Reply("", tool_calls=(("lookup_order", {"order_id": "1234"}),)),
        Reply("You were charged twice; a refund is on its way."),
        model="small",
    )
    pipeline = replay_fixture.build()
    pipeline.trace_dir = tmp_path
    result = pipeline.run("I was charged twice for order 1234")
    assert result.output.startswith("You were charged twice")
    assert result.trace_path is not None
    return result.trace_path


def test_replay_is_identical_and_makes_no_model_call(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = record(server, tmp_path, monkeypatch)
    before = len(server.calls())
    report = replay_fixture.build().replay(Trace.load(path))
    assert report.identical, report.describe()
    assert len(server.calls()) == before
    kinds = [e.kind for e in report.replayed]
    assert kinds.count("model_call") == 4 and "retry" in kinds and "tool_call" in kinds


def _plant(path: Path, old: str, new: str) -> Trace:
    events = list(Trace.load(path))
    for i, e in enumerate(events):
        if isinstance(e, ModelCallEvent) and e.response and old in e.response["text"]:
            response = {**e.response, "text": e.response["text"].replace(old, new)}
            events[i] = e.model_copy(update={"response": response})
            return Trace(events)
    raise AssertionError("nothing to plant")


def test_planted_response_change_diverges_at_the_route(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = record(server, tmp_path, monkeypatch)
    report = replay_fixture.build().replay(_plant(path, "billing, shipping", "shipping"))
    assert not report.identical and report.divergence is not None
    d = report.divergence
    assert d.recorded is not None and d.replayed is not None
    assert d.recorded["kind"] == "route" and d.recorded["chosen"] == ["billing"]
    assert d.replayed["chosen"] == ["shipping"]
    assert d.step == 1
    assert "diverged at event" in report.describe()


def test_changed_router_parameter_diverges(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = record(server, tmp_path, monkeypatch)
    report = replay_fixture.build(max_agents=2).replay(Trace.load(path))
    d = report.divergence
    assert d is not None and d.recorded is not None and d.replayed is not None
    # the router's prompt now says "at most 2": its request is not in the recording
    assert d.step == 1 and d.recorded["purpose"] == "route" and d.recorded["ok"]
    assert d.replayed["error_type"] == "ReplayMissError"


def _can_unshare() -> bool:
    import shutil

    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def test_cli_replay_under_two_hash_seeds_with_the_server_gone(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = record(server, tmp_path, monkeypatch)
    server.stop()  # nothing is listening any more: a model call could not succeed
    # where we may, also take the network away: a private namespace with loopback down
    isolate = ["unshare", "-n"] if _can_unshare() else []
    for seed in ("0", "1"):
        out = run_cli(
            "replay", str(path), "--pipeline", "tests.replay_fixture:build",
            prefix=isolate, env={"PYTHONHASHSEED": seed},
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        assert "identical" in out.stdout


def test_cli_replay_refuses_to_import_an_unvetted_origin(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = record(server, tmp_path, monkeypatch)
    out = run_cli("replay", str(path))
    assert out.returncode == 1 and "--pipeline tests.replay_fixture:build" in out.stderr


def test_cli_replay_reports_divergence_with_exit_code(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = record(server, tmp_path, monkeypatch)
    planted = _plant(path, "charged twice", "charged once")
    planted_path = planted.save(tmp_path / "planted.jsonl")
    out = run_cli("replay", str(planted_path), "--pipeline", "tests.replay_fixture:build")
    assert out.returncode == 1
    assert "diverged at event" in out.stdout and "charged once" in out.stdout


_cli = run_cli


def test_what_if_router_serves_recorded_answers_and_shows_the_difference(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = record(server, tmp_path, monkeypatch)
    before = len(server.calls())
    out = _cli("replay", str(path), "--pipeline", "tests.replay_fixture:build", "--router", "first")
    assert out.returncode == 0, out.stderr
    assert len(server.calls()) == before
    assert "* calls" in out.stdout  # the router's own call is gone
    assert "  output" in out.stdout  # same answer from the same recorded responses


def test_what_if_budget_that_cannot_pay_ends_in_a_typed_error(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = record(server, tmp_path, monkeypatch)
    out = _cli(
        "replay", str(path), "--pipeline", "tests.replay_fixture:build", "--budget", "0.00001"
    )
    assert out.returncode == 0, out.stderr
    assert "BudgetExceededError" in out.stdout


def test_what_if_needing_a_new_answer_fails_clearly_or_goes_live(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLAY_FIXTURE_URL", server.url)
    server.script(Reply("Reason: parcel\nAgents: shipping"), Reply("On its way."), model="small")
    pipeline = replay_fixture.build()
    pipeline.trace_dir = tmp_path
    path = pipeline.run("Where is my parcel?").trace_path
    assert path is not None
    # the first router picks billing, whose answer the trace never recorded
    strict = _cli(
        "replay", str(path), "--pipeline", "tests.replay_fixture:build", "--router", "first"
    )
    assert strict.returncode == 1 and "--live" in strict.stderr
    before = len(server.calls())
    server.script(Reply("Billing here."), model="small")
    live = _cli(
        "replay",
        str(path),
        "--pipeline",
        "tests.replay_fixture:build",
        "--router",
        "first",
        "--live",
    )
    assert live.returncode == 0, live.stderr
    assert len(server.calls()) == before + 1 and "Billing here." in live.stdout


def test_parallel_agents_replay_identically_whatever_the_interleaving(
    server: FakeModelServer,
) -> None:
    from agentroute import Agent, FixedTierPolicy, Pipeline, ReasoningRouter
    from tests.conftest import fake_model

    small = fake_model(server, "small")
    router = fake_model(server, "router")
    agents = [Agent("billing", "Refunds", models=[small]),
              Agent("shipping", "Parcels", models=[small])]  # fmt: skip
    pipeline = Pipeline(agents, router=ReasoningRouter(max_agents=2), router_model=router,
                        policy=FixedTierPolicy("small"), budget_usd=0.01)  # fmt: skip
    server.script(Reply("Reason: both\nAgents: billing, shipping"), Reply("merged"),
                  model="router")  # fmt: skip
    # billing answers late in the live run: shipping's events come first there, not in a replay
    server.responder = lambda body: (
        Reply("refund", delay_s=0.3) if "Refunds" in body["messages"][0]["content"]
        else Reply("parcel")
    )  # fmt: skip
    result = pipeline.run("charged twice and the parcel is late")
    calls = [e.agent for e in result.trace.of_kind("model_call")]
    assert calls.index("shipping") < calls.index("billing")
    report = pipeline.replay(result.trace)
    assert report.identical, report.describe()
    # a real change in one agent's lane is still caught
    pipeline.agents["billing"] = Agent("billing", "Refunds", models=[small], max_tokens=9)
    assert not pipeline.replay(result.trace).identical


def test_a_forged_origin_never_chooses_code_to_run(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = record(server, tmp_path, monkeypatch)
    lines = path.read_text().splitlines()
    forged = [x.replace('"origin":"tests.replay_fixture:build"', '"origin":"agentroute.cli:app"')
              for x in lines]  # fmt: skip
    assert forged != lines
    target = tmp_path / "forged.jsonl"
    target.write_text("\n".join(forged) + "\n")
    out = run_cli("replay", str(target), timeout=60)
    assert out.returncode == 1 and "pass --pipeline agentroute.cli:app" in out.stderr
    assert "Traceback" not in out.stderr


def test_replay_serves_recorded_tool_results_and_runs_no_tool(
    server: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = record(server, tmp_path, monkeypatch)
    replay_fixture.CALLS.clear()
    report = replay_fixture.build().replay(Trace.load(path))
    assert report.identical, report.describe()
    assert replay_fixture.CALLS == []  # the recorded result was served
    rerun = replay_fixture.build().replay(Trace.load(path), run_tools=True)
    assert rerun.identical and replay_fixture.CALLS == ["1234"]


def test_a_sink_passed_in_belongs_to_the_caller(server: FakeModelServer, tmp_path: Path) -> None:
    from agentroute import Agent, JsonlSink, Pipeline
    from tests.conftest import fake_model

    sink = JsonlSink(tmp_path / "shared.jsonl")
    pipeline = Pipeline([Agent("a", "x", models=[fake_model(server)])], sinks=[sink])
    pipeline.run("first")
    pipeline.run("second")
    sink.close()
    tasks = [e.task for e in Trace.load(tmp_path / "shared.jsonl").of_kind("run_start")]  # type: ignore[union-attr]
    assert tasks == ["first", "second"]


def test_cli_replays_a_colony_run(tmp_path: Path) -> None:
    runner = replay_fixture.build_colony()
    result = asyncio.run(runner.run("write the parser"))
    path = result.trace.save(tmp_path / "colony.jsonl")
    out = run_cli("replay", str(path), "--pipeline", "tests.replay_fixture:build_colony")
    assert out.returncode == 0 and "identical" in out.stdout, out.stdout + out.stderr
    other = {"draft_small": "draft_large", "draft_large": "draft_small"}[result.path[0]]
    events = [
        e.model_copy(update={"chosen": other}) if isinstance(e, AntStepEvent) else e
        for e in Trace.load(path)
    ]  # the recorded pick no longer follows from its probabilities and draw
    out = run_cli(
        "replay", str(Trace(events).save(tmp_path / "p.jsonl")),
        "--pipeline", "tests.replay_fixture:build_colony",
    )  # fmt: skip
    assert out.returncode == 1 and "diverged at event" in out.stdout
    out = run_cli(
        "replay", str(path), "--pipeline", "tests.replay_fixture:build_colony", "--budget", "1"
    )
    assert out.returncode == 1 and "what-ifs of a Pipeline" in out.stderr
