"""Cookbook files run as real programs (against the fake server here; on the local models in
tests/local)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentroute.testing import FakeModelServer, Reply
from agentroute.trace import Trace

COOKBOOK = Path(__file__).resolve().parents[1] / "cookbook"
FILES = sorted(p.name for p in COOKBOOK.glob("[!_]*.py"))
PROBE = Reply("T", logprobs=(("T", -0.01, (("T", -0.01),)),))


def _answers(body: dict[str, object]) -> Reply:
    """One fake model for every cookbook file: probes, routing, code, numbers, prose."""
    messages = body["messages"]
    assert isinstance(messages, list)
    text = " ".join(str(m.get("content") or "") for m in messages)
    if body.get("max_tokens") == 1:
        return PROBE
    if "by consulting the language models" in text:  # a multi-round router's next action
        return _round(body, text)
    if "Routes:" in text and "Conversation:" in text:  # a preference router
        return _preference(text)
    if "Agents:" in text and "Reason" in text:
        return Reply("Reason: it is about a charge\nAgents: billing")
    if "Python" in text:
        return Reply("```python\ndef is_even(n):\n    return n % 2 == 0\n```")
    return Reply("Answer: 16. All set.")


def _preference(text: str) -> Reply:
    """The route the conversation's last line asks for, by a keyword; "other" for the rest."""
    last = text.rsplit("Conversation:", 1)[1].strip().splitlines()[-1].lower()
    for word, route in (("parcel", "delivery / track"), ("charged", "billing / refund")):
        if word in last:
            return Reply(json.dumps({"route": route}))
    return Reply(json.dumps({"route": "other"}))


def _round(body: dict[str, Any], text: str) -> Reply:
    """One sub-question to the first pool model offered, then the answer."""
    if "<information>" in text:
        return Reply(json.dumps({"think": "it answered", "action": "answer", "answer": "16"}))
    schema = body["response_format"]["json_schema"]["schema"]
    model = schema["anyOf"][0]["properties"]["model"]["enum"][0]
    query = "How many legs does a spider have?"
    return Reply(json.dumps({"think": "a fact", "action": "route", "model": model, "query": query}))


def agentroute_run(file: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentroute.cli", "run", str(COOKBOOK / file), *args],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )  # fmt: skip


def test_there_are_at_least_six_cookbook_pipelines() -> None:
    assert len(FILES) >= 6, FILES


@pytest.mark.parametrize("file", FILES)
def test_every_cookbook_file_runs_under_agentroute_run_and_replays_identically(
    file: str, server: FakeModelServer, tmp_path: Path
) -> None:
    server.responder = _answers
    out = agentroute_run(file, "--base-url", server.url, "--check-replay", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    [replay_line] = [x for x in out.stdout.splitlines() if x.startswith("replay: ")]
    done = replay_line.removeprefix("replay: ").split(" of ")[0]
    assert int(done) >= 1 and replay_line == f"replay: {done} of {done} runs identical"
    assert "agentroute runs" in out.stdout and "cost $" in out.stdout
    # every request the server saw is a traced model call of a live run: the replays sent none
    # (attempts whose connection was refused never reached it)
    traced = sum(
        1
        for path in (tmp_path / "traces").glob("run-*.jsonl")
        for e in Trace.load(path).of_kind("model_call")
        if e.error_type != "TransportError"  # type: ignore[union-attr]
    )
    if traced:
        assert traced == len(server.calls())


def test_every_cookbook_file_says_what_it_shows() -> None:
    files = sorted(COOKBOOK.glob("*.py"))
    assert files
    for f in files:
        doc = f.read_text().split('"""')[1]
        assert len(doc.split()) >= 10, f"{f.name} needs a docstring saying what it shows"


def test_support_triage_on_an_openai_compatible_server(
    server: FakeModelServer, tmp_path: Path
) -> None:
    server.script(Reply("Reason: late parcel\nAgents: shipping"), model="big")
    server.script(Reply("T", logprobs=(("T", -0.01, (("T", -0.01),)),)), model="tiny-one")
    server.script(Reply("Your parcel ships tomorrow."), model="tiny-one")
    out = subprocess.run(
        [
            sys.executable,
            str(COOKBOOK / "support_triage.py"),
            "--base-url",
            server.url,
            "--small",
            "tiny-one",
            "--large",
            "big",
            "--task",
            "Where is my parcel?",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "Your parcel ships tomorrow." in out.stdout
    assert "route=shipping" in out.stdout
    assert list((tmp_path / "traces").glob("run-*.jsonl"))


def test_healing_tools_reroutes_then_escalates(server: FakeModelServer, tmp_path: Path) -> None:
    server.responder = lambda body: Reply("The lighthouse dates from 1870.")
    out = subprocess.run(
        [sys.executable, str(COOKBOOK / "healing_tools.py"), "--base-url", server.url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stdout.splitlines() if x.startswith("task ")]
    assert len(lines) == 5
    assert "path start > fetch_api > summarize" in lines[0]
    assert "fetch_api failed -> start > fetch_mirror > summarize" in lines[1]
    # after two failures the breaker keeps fetch_api out: no more failed attempts, no reroute
    assert "reroutes none" in lines[3] and "fetch_mirror" in lines[3]
    assert lines[4].startswith("task 5: escalated") and "no_feasible_path" in lines[4]
    assert all("LLM control calls 0" in x for x in lines)
    assert len(server.calls()) == 4  # one summary per completed task, nothing else


def test_healing_cookbook_traces_replay_identically(
    server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import importlib.util

    from agentroute import Model

    monkeypatch.syspath_prepend(str(COOKBOOK))
    spec = importlib.util.spec_from_file_location("healing_tools", COOKBOOK / "healing_tools.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server.responder = lambda body: Reply("A lighthouse from 1870.")
    outages = module.Outages()
    runner = module.build(Model.openai_compatible(server.url, "m", tier="small"), outages)
    traces = []
    for down in (set(), {"fetch_api"}, {"fetch_api", "fetch_mirror", "fetch_cache"}):
        outages.down = down
        traces.append(asyncio.run(runner.arun("Summarise the page.")).trace)
    before = len(server.calls())
    for trace in traces:
        report = runner.replay(trace)
        assert report.identical, report.describe()
    assert len(server.calls()) == before  # the summariser agent was not called again


def test_expert_panel_runs_two_specialists_and_merges(
    server: FakeModelServer, tmp_path: Path
) -> None:
    server.script(
        Reply("Reason: a double charge and a late parcel\nAgents: billing, shipping"),
        Reply("Billing refunds one charge; shipping chases the courier."),
        model="big",
    )
    server.script(Reply("I will refund the duplicate."), Reply("I will chase the courier."),
                  model="tiny-one")  # fmt: skip
    out = subprocess.run(
        [sys.executable, str(COOKBOOK / "expert_panel.py"), "--base-url", server.url,
         "--small", "tiny-one", "--large", "big"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Billing refunds one charge" in out.stdout and "panel=billing+shipping" in out.stdout
    refine = server.calls()[-1].body["messages"]
    assert "[billing]" in refine[1]["content"] and "[shipping]" in refine[1]["content"]
    assert "disagree" in refine[0]["content"]
