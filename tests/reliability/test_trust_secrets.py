"""Secrets stay out of traces and errors wherever the user put them (a key, a base URL's query,
a dictionary key), and hostile nesting ends in a typed error."""

from __future__ import annotations

import json

import pytest

from agentroute import Agent, Model, Pipeline, RetryPolicy, tool
from agentroute.errors import ResponseFormatError, RunError
from agentroute.testing import FakeModelServer, Raw, Reply

SECRET = "gw-credential-7f3a9c11d2"


def test_a_credential_in_the_base_url_is_redacted_from_errors_and_the_trace(
    server: FakeModelServer,
) -> None:
    model = Model.openai_compatible(f"{server.url}?api-key={SECRET}", "m",
                                    retry=RetryPolicy(max_attempts=1))  # fmt: skip
    with pytest.raises(RunError) as info:
        Pipeline([Agent("a", "x", models=[model])]).run("q")
    assert SECRET not in str(info.value)
    text = json.dumps([e.record() for e in info.value.trace])  # type: ignore[attr-defined]
    assert SECRET not in text and "REDACTED" in text


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
