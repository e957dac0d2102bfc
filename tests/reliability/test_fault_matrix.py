"""Faults injected between agentroute and a real HTTP server, one per case: the exact number
of attempts, how each failed attempt is classified, whether the task recovers or ends in an
explicit typed error, and that every attempt is in the trace."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

import pytest

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, RunError
from agentroute.fault_proxy import Cut, Drop, Fault, FaultProxy, Reset, Stall, Trickle
from agentroute.models import RetryPolicy
from agentroute.testing import Fail, FakeModelServer, Raw, Reply

POLICY = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05,
                     attempt_timeout_s=0.5, deadline_s=10.0)  # fmt: skip


@dataclass(frozen=True)
class Case:
    name: str
    fault: Fault | None = None
    server: tuple[Any, ...] = ()
    attempts: int = 1
    failed_as: str | None = None
    """error type of the first (failed) attempt"""
    ends_with: str | None = None
    """None: the task succeeds; else the typed error it ends with"""
    dead_port: bool = False
    output: str = "first answer"
    """what the task answers: a request the fault let through to the server used up the
    first scripted answer, which then never reached the client (and must never be delivered)"""


HUGE = Raw(
    b'{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"' + b"A" * 2_000_000 + b'"},'
    b'"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":5}}'
)

CASES = [
    Case("connection refused", dead_port=True, attempts=3, failed_as="TransportError",
         ends_with="TransportError"),
    Case("reset before the answer", Drop(), attempts=2, failed_as="TransportError"),
    Case("reset mid-body", Reset(0.5), attempts=2, failed_as="TransportError",
         output="second answer"),
    Case("stalled first byte, late answer", Stall(2.0), attempts=2,
         failed_as="AttemptTimeoutError", output="second answer"),
    Case("answer cut mid-way", Cut(0.6), attempts=2, failed_as="TransportError",
         output="second answer"),
    Case("slow trickle past the attempt timeout", Trickle(8, 0.05), attempts=2,
         failed_as="AttemptTimeoutError", output="second answer"),
    Case("slow trickle within it", Trickle(64, 0.005), attempts=1),
    Case("429 with Retry-After", server=(Fail(429, retry_after=0.2),), attempts=2,
         failed_as="RateLimitedError"),
    Case("500", server=(Fail(500),), attempts=2, failed_as="ServerError"),
    Case("malformed JSON", server=(Raw(b"{not json"),), failed_as="ResponseFormatError",
         ends_with="ResponseFormatError"),
    Case("wrong content type", server=(Raw(b"<html>busy</html>", content_type="text/html"),),
         failed_as="ResponseFormatError", ends_with="ResponseFormatError"),
    Case("usage missing", server=(Reply("fine", usage=None),), output="fine"),
    Case("huge body", server=(HUGE,), failed_as="ResponseFormatError",
         ends_with="ResponseFormatError"),
]  # fmt: skip


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pipeline(url: str) -> Pipeline:
    model = Model.openai_compatible(url, "m", tier="small", price_in=1.0, price_out=2.0,
                                    retry=POLICY)  # fmt: skip
    return Pipeline([Agent("solo", "answers", models=[model], max_tokens=64)],
                    policy=FixedTierPolicy("small"), budget_usd=0.01)  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case: Case, server: FakeModelServer, figures: dict[str, Any]) -> None:
    server.script(*case.server, Reply("first answer"), Reply("second answer"))
    with FaultProxy(server.port) as proxy:
        if case.fault is not None:
            proxy.script(case.fault)
        url = f"http://127.0.0.1:{_dead_port()}/v1" if case.dead_port else proxy.url
        pipeline = _pipeline(url)
        trace = None
        try:
            result = pipeline.run("question")
            trace, error = result.trace, None
        except RunError as exc:
            trace, error = exc.trace, exc  # type: ignore[attr-defined]
        if isinstance(case.fault, Stall):  # let the late answer go out while we watch
            time.sleep(case.fault.seconds)
            late = [h for h in proxy.log if h.fault == case.fault]
            assert late and late[0].answer_bytes > 0
    calls = trace.of_kind("model_call")
    assert len(calls) == case.attempts, [c.error_type for c in calls]  # type: ignore[union-attr]
    if case.failed_as is not None:
        assert calls[0].error_type == case.failed_as  # type: ignore[union-attr]
    assert [c.attempt for c in calls] == list(range(1, case.attempts + 1))  # type: ignore[union-attr]
    if case.ends_with is None:
        assert error is None and sum(c.ok for c in calls) == 1  # type: ignore[union-attr]
        assert result.output == case.output  # and nothing else was delivered
        assert [e.kind for e in result.trace].count("run_end") == 1
    else:
        assert type(error).__name__ == case.ends_with
        assert all(not c.ok for c in calls)  # type: ignore[union-attr]
        assert trace.of_kind("run_end")[0].status == "error"  # type: ignore[union-attr]
    retries = trace.of_kind("retry")
    assert len(retries) == sum(1 for c in calls if not c.ok and c.retryable) - (  # type: ignore[union-attr]
        1 if case.ends_with and calls[-1].retryable else 0)  # type: ignore[union-attr]  # fmt: skip
    if case.name == "429 with Retry-After":
        assert retries[0].wait_s == pytest.approx(0.2)  # type: ignore[union-attr]
    if case.name == "usage missing":
        [ok] = calls
        assert ok.usage_reported is False and ok.cost_usd > 0  # billed at the worst case  # type: ignore[union-attr]
    if case.name == "huge body":
        assert "2000000 characters" in (calls[0].error or "")  # type: ignore[union-attr]
        assert calls[0].response is None and trace.of_kind("run_end")[0].cost_usd > 0  # type: ignore[union-attr]
    survived = figures.setdefault("faults injected / survived (recovered or explicit error)",
                                  [0, 0])  # fmt: skip
    survived[0] += 1
    survived[1] += 1
