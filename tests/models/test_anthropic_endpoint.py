"""The Anthropic endpoint against the fake server's ``/v1/messages`` route."""

from __future__ import annotations

import pytest

from agentroute.errors import AuthenticationError, ServerError
from agentroute.models.anthropic_ep import AnthropicEndpoint
from agentroute.models.retry import call_with_retry
from agentroute.testing import Fail, FakeModelServer, Reply
from agentroute.types import Message, ModelRequest
from tests.conftest import FAST_RETRY, run

REQ = ModelRequest(messages=(Message.system("sys prompt"), Message.user("hello")), max_tokens=9)


def call(server: FakeModelServer):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        ep = AnthropicEndpoint(
            "claude-test", api_key="sk-ant-test-0000000", base_url=server.root_url
        )
        try:
            return await call_with_retry(lambda n, t: ep.complete(REQ, timeout_s=t), FAST_RETRY)
        finally:
            await ep.aclose()

    return run(go())


def test_round_trip(server: FakeModelServer) -> None:
    server.script(Reply("bonjour", usage=(20, 4)))
    c = call(server)
    assert c.text == "bonjour" and c.provider == "anthropic"
    assert (c.usage.input_tokens, c.usage.output_tokens) == (20, 4)
    assert c.logprobs is None
    [sent] = server.calls("/v1/messages")
    assert sent.body["system"] == "sys prompt"
    assert sent.body["messages"] == [{"role": "user", "content": "hello"}]
    assert sent.body["max_tokens"] == 9
    # the client sends the key as x-api-key or as a bearer token, depending on its version
    assert "sk-ant-test-0000000" in (
        sent.headers.get("x-api-key", ""),
        sent.headers.get("authorization", "").removeprefix("Bearer "),
    )
    assert sent.headers["x-stainless-retry-count"] == "0"


def test_overloaded_is_retried(server: FakeModelServer) -> None:
    server.script(Fail(529), Reply("after overload"))
    assert call(server).text == "after overload"
    assert len(server.calls()) == 2


def test_auth_error_not_retried(server: FakeModelServer) -> None:
    server.script(Fail(401), Reply("unused"))
    with pytest.raises(AuthenticationError):
        call(server)
    assert len(server.calls()) == 1


def test_server_error_exhausts_attempts(server: FakeModelServer) -> None:
    server.script(Fail(500), Fail(500), Fail(500))
    with pytest.raises(ServerError):
        call(server)
    assert len(server.calls()) == 3
