"""Trace core: JSONL sink, loading, and redaction of secrets during failing calls."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agentroute import Agent, Pipeline, Trace, TraceError
from agentroute.errors import AuthenticationError
from agentroute.events import EVENT_KINDS, Escalation, RunStart
from agentroute.testing import Fail, FakeModelServer, Reply
from agentroute.trace import JsonlSink, MemorySink, Redactor, Tracer
from agentroute.trace.chain import line_hash
from tests.conftest import fake_model


def test_every_event_kind_is_listed() -> None:
    assert len(EVENT_KINDS) == len(set(EVENT_KINDS)) >= 10
    assert {"route", "model_call", "budget_reserve", "budget_settle"} <= set(EVENT_KINDS)


def test_jsonl_sink_writes_one_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    tracer = Tracer(sinks=[JsonlSink(path)], clock=lambda: 1.0)
    tracer.emit(RunStart, task="line one\nline two", agents=("a",), router="first")
    tracer.emit(Escalation, reason="x", detail={"n": 1})
    tracer.close()
    lines = path.read_bytes().splitlines()
    assert [json.loads(x)["kind"] for x in lines] == ["run_start", "escalation", "seal"]
    assert [json.loads(x).get("seq") for x in lines] == [0, 1, None]
    assert json.loads(lines[2])["count"] == 2
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_torn_last_line_is_closed_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"kind": "run_start", "trunc')  # a writer died mid-record
    sink = JsonlSink(path)
    sink.write({"kind": "escalation", "n": 1})
    sink.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3  # the torn line, the new record, the seal
    record = json.loads(lines[1])
    assert record.pop("prev") == line_hash(lines[0] + b"\n")
    assert record == {"kind": "escalation", "n": 1}


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    tracer = Tracer(clock=lambda: 5.0)
    tracer.emit(RunStart, task="t", agents=("a", "b"), router="reasoning", budget_usd=0.1)
    tracer.emit(Escalation, reason="no path", detail={"from": "a"})
    path = tracer.trace.save(tmp_path / "run.jsonl")
    loaded = Trace.load(path)
    assert [e.model_dump() for e in loaded] == [e.model_dump() for e in tracer.trace]


def test_load_rejects_malformed_lines_with_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = Tracer(clock=lambda: 0.0)
    good.emit(Escalation, reason="ok")
    good.trace.save(path)
    with path.open("a") as f:
        f.write('{"kind": "no_such_kind", "v": 1}\n')
    with pytest.raises(TraceError, match=r"bad.jsonl:3"):
        Trace.load(path)
    path.write_text("not json at all\n")
    with pytest.raises(TraceError, match=r":1"):
        Trace.load(path)


def test_load_rejects_oversized_files(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b" " * 2048)
    with pytest.raises(TraceError, match="limit"):
        Trace.load(path, max_bytes=1024)


def test_load_missing_file() -> None:
    with pytest.raises(TraceError, match="cannot read"):
        Trace.load("/nonexistent/trace.jsonl")


def test_redactor_masks_known_values_patterns_and_fields() -> None:
    r = Redactor(["hunter2-long-secret"], include_env=False)
    out = r(
        {
            "msg": "key hunter2-long-secret leaked",
            "h": "Bearer abc.def-ghi123",
            "authorization": "whatever",
            "nested": ["sk-ABCDEFGHIJKL"],
            "n": 3,
        }
    )
    assert out == {
        "msg": "key [REDACTED] leaked",
        "h": "[REDACTED]",
        "authorization": "[REDACTED]",
        "nested": ["[REDACTED]"],
        "n": 3,
    }
    clean = {"a": "nothing secret here", "b": [1, 2]}
    assert r(clean) is clean


def test_redactor_picks_up_secret_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789abcdef")
    assert "tok-0123" not in Redactor().text("value tok-0123456789abcdef here")


def test_no_secret_in_trace_file_after_failing_call(
    tmp_path: Path, server: FakeModelServer
) -> None:
    secret = "custom-credential-7d3f9a2b1c"
    # the server echoes the credential back in its error message, as some gateways do
    server.script(Fail(401, message=f"invalid key {secret} (Authorization: Bearer {secret})"))
    agent = Agent("a", "answers", models=[fake_model(server, api_key=secret)])
    memory = MemorySink()
    pipeline = Pipeline([agent], trace_dir=tmp_path, sinks=[memory])
    with pytest.raises(AuthenticationError) as info:
        pipeline.run("hello")
    [file] = list(tmp_path.glob("run-*.jsonl"))
    text = file.read_text()
    assert secret not in text
    assert "[REDACTED]" in text
    assert secret not in json.dumps(memory.records)
    kinds = [json.loads(x)["kind"] for x in text.splitlines()]
    assert kinds[0] == "run_start" and kinds[-2:] == ["run_end", "seal"]
    assert "model_call" in kinds
    assert secret not in str(info.value.trace[-1].model_dump())  # type: ignore[attr-defined]
    # the credential really was sent to the server, so the test could have failed
    assert secret in server.calls()[0].headers["authorization"]
    assert os.path.getsize(file) > 0


def test_canary_secrets_in_keys_and_tool_arguments_never_reach_traces(
    tmp_path: Path, server: FakeModelServer
) -> None:
    from agentroute import tool

    canary = "canary-key-5f0c2e9a7d41"

    @tool
    def send(token: str, note: str) -> str:
        """Send a note."""
        return "sent"

    agent = Agent("a", "sends", tools=[send], models=[fake_model(server, api_key=canary)])
    server.script(
        Reply("", tool_calls=(("send", {"token": canary, "note": "Bearer abcdefghijklmnop"}),)),
        Reply(f"done, and the key was {canary}"),
    )
    memory = MemorySink()
    result = Pipeline([agent], trace_dir=tmp_path, sinks=[memory]).run("send it")
    [file] = tmp_path.glob("run-*.jsonl")
    for text in (
        file.read_text(),
        json.dumps(memory.records),
        json.dumps([e.model_dump(mode="json") for e in result.trace]),
    ):
        assert canary not in text
        assert "abcdefghijklmnop" not in text
    assert canary in json.dumps(server.calls()[1].body)  # it really went through the run


_ALPHABET = "abcXYZ09 -_./:\"'\\\n\té" + "sk-beargh_p"


@pytest.mark.parametrize("secret", ["plain-secret-value", 'with"quote-inside', "back\\slash-key"])
def test_the_fast_path_never_skips_what_the_full_walk_would_redact(secret: str) -> None:
    """`may_touch` looks at an event's JSON text; when it says no, the full walk must agree."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    r = Redactor([secret], include_env=False)
    text_ = st.text(alphabet=_ALPHABET, max_size=40) | st.sampled_from(
        [secret, f"x {secret} y", "Bearer abcdefgh12345", "sk-ABCDEFGHIJKL", "ghp_" + "a" * 20]
    )
    keys = st.sampled_from(["msg", "token", "Authorization", "api_key", "note", "password"])
    values = st.recursive(text_ | st.integers(), lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(keys, inner, max_size=3), max_leaves=8)  # fmt: skip

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(keys, values, max_size=4))
    def check(record: dict[str, object]) -> None:
        if not r.may_touch(json.dumps(record, ensure_ascii=False)):
            assert r(record) is record

    check()


def test_an_old_schema_is_refused_with_how_to_convert_it(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    path = tmp_path / "old.jsonl"
    tracer = Tracer(clock=lambda: 0.0)
    tracer.emit(Escalation, reason="ok")
    records = [e.record() | {"v": 1} for e in tracer.trace]
    for r in records:
        r.pop("node")
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(TraceError, match="trace upgrade"):
        Trace.load(path)
    out = run_cli("trace", "upgrade", str(path), "-o", str(tmp_path / "new.jsonl"))
    assert out.returncode == 0, out.stderr
    [event] = Trace.load(tmp_path / "new.jsonl")
    assert event.v == 2 and event.kind == "escalation" and event.node is None
