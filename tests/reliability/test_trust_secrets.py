"""Secrets stay out of traces and errors wherever the user put them (a key, a base URL's query,
a dictionary key), and hostile nesting ends in a typed error."""

from __future__ import annotations

import json
import socket

import pytest

from agentroute import Agent, Model, Pipeline, RetryPolicy, tool
from agentroute.errors import ResponseFormatError, RunError
from agentroute.testing import FakeModelServer, Raw, Reply

SECRET = "gw-credential-7f3a9c11d2"


def test_a_credential_in_the_base_url_is_redacted_from_errors_and_the_trace() -> None:
    with socket.socket() as s:  # a port nobody listens on: the error names the URL
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = Model.openai_compatible(f"http://127.0.0.1:{port}/v1?api-key={SECRET}", "m",
                                    retry=RetryPolicy(max_attempts=1))  # fmt: skip
    with pytest.raises(RunError) as info:
        Pipeline([Agent("a", "x", models=[model])]).run("q")
    assert "127.0.0.1" in str(info.value) and SECRET not in str(info.value)
    text = json.dumps([e.record() for e in info.value.trace])  # type: ignore[attr-defined]
    assert SECRET not in text and "REDACTED" in text


def test_a_credential_in_the_base_url_query_is_sent_as_a_query_parameter(
    server: FakeModelServer,
) -> None:
    server.script(Reply("through the gateway"))
    model = Model.openai_compatible(f"{server.url}?api-key={SECRET}", "m")
    result = Pipeline([Agent("a", "x", models=[model])]).run("q")
    assert result.output == "through the gateway"
    path = server.calls()[0].path
    assert path.startswith("/v1/chat/completions?") and f"api-key={SECRET}" in path
    assert SECRET not in json.dumps([e.record() for e in result.trace])


def test_a_secret_used_as_a_dictionary_key_is_redacted(server: FakeModelServer) -> None:
    @tool
    def save(data: dict[str, str]) -> str:
        """Save some data."""
        return "saved"

    server.script(Reply("", tool_calls=(("save", {"data": {SECRET: "v"}}),)), Reply("done"))
    model = Model.openai_compatible(server.url, "m", api_key=SECRET)
    result = Pipeline([Agent("a", "x", tools=[save], models=[model])]).run("q")
    text = json.dumps([e.record() for e in result.trace])
    assert SECRET not in text


def test_deeply_nested_bodies_and_arguments_end_in_typed_errors(server: FakeModelServer) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    server.script(Raw(deep.encode()))
    model = Model.openai_compatible(server.url, "m", retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ResponseFormatError):
        Pipeline([Agent("a", "x", models=[model])]).run("q")

    @tool
    def echo(x: str) -> str:
        """Echo."""
        return x

    calls = [{"id": "c1", "type": "function",
              "function": {"name": "echo", "arguments": '{"x": ' + deep + "}"}}]  # fmt: skip
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": "", "tool_calls": calls}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1}}  # fmt: skip
    server.script(Raw(json.dumps(body).encode()), Reply("fine"))
    agent = Agent("a", "x", tools=[echo], models=[model], max_tokens=200_000)
    result = Pipeline([agent]).run("q")
    [tc] = result.trace.of_kind("tool_call")
    assert tc.ok is False and "bad arguments" in (tc.error or "")  # type: ignore[union-attr]
