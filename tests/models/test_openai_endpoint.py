"""The OpenAI-compatible endpoint and the retry layer, against a real HTTP server."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentroute.errors import (
    AttemptTimeoutError,
    AuthenticationError,
    BadRequestError,
    DeadlineExceededError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from agentroute.models import RetryPolicy
from agentroute.models.openai_compat import OpenAICompatibleEndpoint
from agentroute.models.retry import call_with_retry
from agentroute.testing import Cut, Fail, FakeModelServer, Hang, Raw, Reply
from agentroute.types import Message, ModelRequest
from tests.conftest import FAST_RETRY, run

REQ = ModelRequest(messages=(Message.system("be brief"), Message.user("hi")), max_tokens=7)


def call(
    server: FakeModelServer,
    policy: RetryPolicy = FAST_RETRY,
    req: ModelRequest = REQ,
    retries: list[tuple[int, str, float]] | None = None,
):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        ep = OpenAICompatibleEndpoint(server.url, "m", api_key="sk-test-key-000000")
        try:
            return await call_with_retry(
                lambda n, t: ep.complete(req, timeout_s=t),
                policy,
                on_retry=(lambda a, e, w: retries.append((a, e.type_name, w)))
                if retries is not None
                else None,
                label="m",
            )
        finally:
            await ep.aclose()

    return run(go())


def test_round_trip_sends_request_and_reads_usage(server: FakeModelServer) -> None:
    server.script(Reply("hello there", usage=(12, 3)))
    c = call(server)
    assert c.text == "hello there"
    assert (c.usage.input_tokens, c.usage.output_tokens) == (12, 3)
    assert c.finish_reason == "stop"
    [sent] = server.calls("/chat/completions")
    assert sent.body["model"] == "m"
    assert sent.body["max_tokens"] == 7
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]
    assert sent.headers["authorization"] == "Bearer sk-test-key-000000"


def test_logprobs_parsed(server: FakeModelServer) -> None:
    server.script(Reply("Yes", logprobs=(("Yes", -0.1, (("Yes", -0.1), ("No", -2.4))),)))
    c = call(server, req=REQ.model_copy(update={"logprobs": True, "top_logprobs": 2}))
    assert c.logprobs is not None
    [tok] = c.logprobs
    assert tok.token == "Yes" and tok.logprob == pytest.approx(-0.1)
    assert [a.token for a in tok.top] == ["Yes", "No"]
    assert 0 < tok.entropy() < 0.7
    assert server.calls()[0].body["top_logprobs"] == 2


def test_logprobs_request_asks_for_at_least_one_alternative(server: FakeModelServer) -> None:
    call(server, req=REQ.model_copy(update={"logprobs": True}))
    assert server.calls()[0].body["top_logprobs"] == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_transient_status_retried_exactly_to_the_limit(
    server: FakeModelServer, status: int
) -> None:
    server.script(Fail(status), Fail(status), Fail(status), Reply("never reached"))
    with pytest.raises(RateLimitedError if status == 429 else ServerError):
        call(server)
    assert len(server.calls()) == FAST_RETRY.max_attempts == 3


def test_transient_then_success(server: FakeModelServer) -> None:
    retries: list[tuple[int, str, float]] = []
    server.script(Fail(500), Fail(429), Reply("done"))
    assert call(server, retries=retries).text == "done"
    assert len(server.calls()) == 3
    assert [(a, t) for a, t, _ in retries] == [(1, "ServerError"), (2, "RateLimitedError")]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, BadRequestError),
        (422, BadRequestError),
    ],
)
def test_client_errors_never_retried(
    server: FakeModelServer, status: int, error: type[Exception]
) -> None:
    server.script(Fail(status), Reply("should not be asked for"))
    with pytest.raises(error) as info:
        call(server)
    assert len(server.calls()) == 1
    assert info.value.status == status  # type: ignore[attr-defined]
    assert info.value.retryable is False  # type: ignore[attr-defined]


def test_retry_after_is_honoured(server: FakeModelServer) -> None:
    retries: list[tuple[int, str, float]] = []
    server.script(Fail(429, retry_after=0.4), Reply("ok"))
    started = time.monotonic()
    call(server, retries=retries)
    assert time.monotonic() - started >= 0.4
    assert retries[0][2] == pytest.approx(0.4)
    gap = server.calls()[1].at - server.calls()[0].at
    assert gap >= 0.39


def test_retry_after_is_capped(server: FakeModelServer) -> None:
    retries: list[tuple[int, str, float]] = []
    server.script(Fail(429, retry_after=3600), Reply("ok"))
    policy = FAST_RETRY.model_copy(update={"max_retry_after_s": 0.05})
    call(server, policy, retries=retries)
    assert retries[0][2] == pytest.approx(0.05)


def test_hard_deadline_bounds_all_attempts(server: FakeModelServer) -> None:
    server.script(*(Hang(5.0) for _ in range(10)))
    policy = RetryPolicy(
        max_attempts=10, initial_backoff_s=0.01, attempt_timeout_s=0.3, deadline_s=1.0
    )
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        call(server, policy)
    elapsed = time.monotonic() - started
    assert 0.95 <= elapsed < 1.6
    assert 2 <= len(server.calls()) <= 4


def test_attempt_timeout_is_retryable(server: FakeModelServer) -> None:
    server.script(Hang(3.0), Reply("second time lucky"))
    policy = RetryPolicy(
        max_attempts=2, initial_backoff_s=0.01, attempt_timeout_s=0.3, deadline_s=5.0
    )
    assert call(server, policy).text == "second time lucky"
    assert len(server.calls()) == 2


def test_attempt_timeout_error_when_attempts_run_out(server: FakeModelServer) -> None:
    server.script(Hang(3.0))
    with pytest.raises(AttemptTimeoutError):
        call(server, RetryPolicy(max_attempts=1, attempt_timeout_s=0.2, deadline_s=5.0))


def test_body_cut_mid_way_is_a_retryable_transport_error(server: FakeModelServer) -> None:
    server.script(Cut(0.5), Cut(0.3), Cut(0.9))
    with pytest.raises(TransportError):
        call(server)
    assert len(server.calls()) == 3
    server.script(Cut(0.5), Reply("whole"))
    assert call(server).text == "whole"


def test_connection_refused_is_a_transport_error() -> None:
    dead = FakeModelServer().start()
    dead.stop()

    async def go() -> None:
        ep = OpenAICompatibleEndpoint(dead.url, "m")
        await call_with_retry(lambda n, t: ep.complete(REQ, timeout_s=t), FAST_RETRY)

    with pytest.raises(TransportError):
        run(go())


@pytest.mark.parametrize(
    "raw",
    [
        Raw(b"{not json"),
        Raw(b"<html>oops</html>", content_type="text/html"),
        Raw(b'{"id": "x", "object": "chat.completion", "choices": []}'),
    ],
)
def test_unreadable_answers_are_not_retried(server: FakeModelServer, raw: Raw) -> None:
    server.script(raw, Reply("unused"))
    with pytest.raises(ResponseFormatError):
        call(server)
    assert len(server.calls()) == 1


def test_missing_usage_is_flagged(server: FakeModelServer) -> None:
    server.script(Reply("no usage block", usage=None))
    c = call(server)
    assert c.usage_reported is False
    assert c.usage.total_tokens == 0


def test_tool_calls_parsed(server: FakeModelServer) -> None:
    server.script(Reply("", tool_calls=(("lookup", {"order_id": "7"}),)))
    c = call(server)
    [tc] = c.tool_calls
    assert tc.name == "lookup" and '"7"' in tc.arguments


def test_cancellation_is_never_retried(server: FakeModelServer) -> None:
    server.script(Hang(3.0), Reply("unused"))

    async def go() -> None:
        ep = OpenAICompatibleEndpoint(server.url, "m")
        task = asyncio.create_task(
            call_with_retry(lambda n, t: ep.complete(REQ, timeout_s=t), FAST_RETRY)
        )
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)

    run(go())
    assert len(server.calls()) == 1
