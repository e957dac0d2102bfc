"""Property-based fuzzing of the two places untrusted bytes come in: trace files and model
responses. Random bytes, deep nesting and odd unicode may only ever end in a typed error."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentroute import Agent, AgentrouteError, Model, Pipeline, RetryPolicy, Trace, TraceError
from agentroute.testing import FakeModelServer, Raw

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)  # fmt: skip
hostile_lines = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50).map(lambda t: t.encode()),
    json_values.map(lambda v: json.dumps({"kind": "run_start", "v": 2, "x": v}).encode()),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(hostile_lines, max_size=6))
def test_the_trace_loader_only_fails_with_trace_errors(tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(lines))
    with contextlib.suppress(TraceError):
        Trace.load(path)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as s:
        yield s


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps({"choices": v, "usage": v}).encode()),
    json_values.map(lambda v: json.dumps({"choices": [{"message": v}]}).encode()),
    st.integers(1, 50_000).map(lambda n: b"{\"choices\":" + b"[" * n + b"]" * n + b"}"),
    st.text(max_size=80).map(lambda t: json.dumps({
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": t}}]}).encode()),
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_response_parsing_only_fails_with_typed_errors(
    shared_server: FakeModelServer, body: bytes
) -> None:
    shared_server.script(Raw(body))
    model = Model.openai_compatible(shared_server.url, "m", retry=RetryPolicy(max_attempts=1))
    try:
        result = Pipeline([Agent("a", "x", models=[model], max_tokens=16)]).run("q")
    except AgentrouteError:
        return
    assert isinstance(result.output, str)
    json.dumps([e.record() for e in result.trace])  # whatever came back, the trace serializes
