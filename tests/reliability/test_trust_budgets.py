"""Budgets hold in every unit against a hostile server: usage that cannot be trusted is billed
at the reserved worst case, an answer past max_tokens stops the task whatever the prices, the
size check counts tool-call arguments, and text that cannot be encoded is made safe before it
reaches the trace."""

from __future__ import annotations

import json

import pytest

from agentroute import Agent, Budget, BudgetExceededError, Pipeline, tool
from agentroute.errors import ResponseFormatError
from agentroute.testing import FakeModelServer, Raw, Reply
from tests.conftest import fake_model


def _body(usage: object, text: str = "ok") -> bytes:
    return json.dumps({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": usage,
    }).encode()  # fmt: skip


@pytest.mark.parametrize(
    "usage",
    [{}, {"total_tokens": 3}, {"prompt_tokens": None, "completion_tokens": None},
     {"prompt_tokens": 5}],
)  # fmt: skip
def test_usage_that_cannot_be_trusted_is_billed_at_the_worst_case(
    server: FakeModelServer, usage: object
) -> None:
    server.script(Raw(_body(usage)))
    result = Pipeline([Agent("a", "x", models=[fake_model(server)], max_tokens=16)]).run("q")
    [call] = result.trace.of_kind("model_call")
    [reserve] = result.trace.of_kind("budget_reserve")
    assert call.usage_reported is False  # type: ignore[union-attr]
    assert call.cost_usd == reserve.amount_usd > 0  # type: ignore[union-attr]
    assert result.cost_usd == reserve.amount_usd  # type: ignore[union-attr]


def test_calls_with_empty_usage_cannot_pass_a_budget_that_fits_one(
    server: FakeModelServer,
) -> None:
    @tool
    def lookup(order_id: str) -> str:
        """Look up an order."""
        return "found"

    def answer(body: dict[str, object]) -> Raw:
        calls = [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"order_id": "1"}'},
            }
        ]
        data = json.loads(_body({}))
        data["choices"][0]["message"]["tool_calls"] = calls
        return Raw(json.dumps(data).encode())

    server.responder = answer  # every answer asks for the tool again, and reports no usage
    agent = Agent("a", "x", tools=[lookup], models=[fake_model(server)], max_tokens=16)
    budget = 0.00035  # one call's worst case is about $0.0002
    with pytest.raises(BudgetExceededError) as info:
        Pipeline([agent], budget=Budget(usd=budget)).run("q")
    calls = info.value.trace.of_kind("model_call")  # type: ignore[attr-defined]
    assert sum(c.cost_usd for c in calls) <= budget
    assert len([c for c in calls if c.ok]) == 1


def test_an_answer_past_max_tokens_stops_the_task_with_prices_at_zero(
    server: FakeModelServer,
) -> None:
    server.script(Reply("x" * 100, usage=(10, 64 * 16)))  # 64 times max_tokens
    model = fake_model(server, price_in=0, price_out=0)
    agent = Agent("a", "x", models=[model], max_tokens=16)
    with pytest.raises(BudgetExceededError) as info:
        Pipeline([agent], budget=Budget(tokens=1000)).run("q")
    assert info.value.unit == "tokens"
    kinds = [e.kind for e in info.value.trace]  # type: ignore[attr-defined]
    assert "escalation" in kinds and kinds[-1] == "run_end"


def test_huge_tool_arguments_count_against_max_tokens(server: FakeModelServer) -> None:
    ran: list[str] = []

    @tool
    def store(blob: str) -> str:
        """Store a blob."""
        ran.append(blob)
        return "stored"

    server.script(Reply("", tool_calls=(("store", {"blob": "y" * 200_000}),), usage=(10, 16)))
    agent = Agent("a", "x", tools=[store], models=[fake_model(server)], max_tokens=16)
    with pytest.raises(ResponseFormatError, match="cannot fit"):
        Pipeline([agent]).run("q")
    assert ran == []


def test_a_lone_surrogate_in_an_answer_is_made_safe_and_traced(server: FakeModelServer) -> None:
    body = _body({"prompt_tokens": 3, "completion_tokens": 2}, text="a\ud800b")
    server.script(Raw(body.replace(b"\\ud800", b"\\ud800")))
    result = Pipeline([Agent("a", "x", models=[fake_model(server)])]).run("q")
    assert result.output == "a\ufffdb"
    [call] = result.trace.of_kind("model_call")
    assert call.ok and call.response["text"] == "a\ufffdb"  # type: ignore[union-attr]


def test_an_attempt_that_may_have_run_is_billed_and_one_never_sent_is_not(
    server: FakeModelServer,
) -> None:
    from agentroute import Model, RetryPolicy
    from agentroute.errors import AttemptTimeoutError, TransportError
    from agentroute.testing import Hang

    once = RetryPolicy(max_attempts=1, attempt_timeout_s=0.3, deadline_s=5)
    server.script(Hang(2.0))
    slow = fake_model(server, retry=once)
    with pytest.raises(AttemptTimeoutError) as timed_out:
        Pipeline([Agent("a", "x", models=[slow], max_tokens=16)]).run("q")
    [call] = timed_out.value.trace.of_kind("model_call")  # type: ignore[attr-defined]
    [reserve] = timed_out.value.trace.of_kind("budget_reserve")  # type: ignore[attr-defined]
    assert call.sent is True and call.cost_usd == reserve.amount_usd > 0  # type: ignore[union-attr]
    [end] = timed_out.value.trace.of_kind("run_end")  # type: ignore[attr-defined]
    assert end.cost_usd == reserve.amount_usd  # type: ignore[union-attr]

    refused = Model.openai_compatible("http://127.0.0.1:9/v1", "m", price_in=1, price_out=2,
                                      retry=once)  # fmt: skip
    with pytest.raises(TransportError) as never:
        Pipeline([Agent("a", "x", models=[refused], max_tokens=16)]).run("q")
    [call] = never.value.trace.of_kind("model_call")  # type: ignore[attr-defined]
    assert call.sent is False and call.cost_usd == 0.0  # type: ignore[union-attr]


def test_a_compressed_bomb_is_refused_before_it_is_inflated(server: FakeModelServer) -> None:
    import subprocess
    import sys
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip, built in pieces
    parts = [packer.compress(b'{"choices": "')]
    parts += [packer.compress(b" " * (1024 * 1024)) for _ in range(300)]
    bomb = b"".join([*parts, packer.compress(b'"}'), packer.flush()])
    assert len(bomb) < 1024 * 1024  # 300 MB once inflated
    server.script(Raw(bomb, headers=(("Content-Encoding", "gzip"),)))
    # a fresh process, so its peak memory (VmHWM: this process image's own, unlike ru_maxrss,
    # which a child inherits from its parent) is this call's alone
    code = (
        "import sys\n"
        "from agentroute import Agent, Model, Pipeline, RetryPolicy\n"
        "from agentroute.errors import ResponseFormatError\n"
        "m = Model.openai_compatible(sys.argv[1], 'm', retry=RetryPolicy(max_attempts=1))\n"
        "try:\n"
        "    Pipeline([Agent('a', 'x', models=[m])]).run('q')\n"
        "except ResponseFormatError as e:\n"
        "    print('refused', 'decoded' in str(e))\n"
        "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM')][0]\n"
        "print(hwm.split()[1])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, server.url], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    lines = out.stdout.split()
    assert lines[:2] == ["refused", "True"], out.stdout + out.stderr
    assert int(lines[-1]) < 250 * 1024  # KiB: far below the 300 MB it would inflate to


def test_compressed_answers_still_arrive(server: FakeModelServer) -> None:
    import gzip

    server.script(Raw(gzip.compress(_body({"prompt_tokens": 3, "completion_tokens": 2},
                                          text="squeezed")),
                      headers=(("Content-Encoding", "gzip"),)))  # fmt: skip
    result = Pipeline([Agent("a", "x", models=[fake_model(server)])]).run("q")
    assert result.output == "squeezed"
