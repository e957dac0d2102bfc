"""Streamed runs on real sockets: the fake OpenAI/Anthropic server, the fault proxy between.

A run's stream carries its decisions (trace events) and its answers' text; a stream that
breaks mid-answer goes on, on the same model or another, from where it broke, with no text
twice at the seam; the budget holds while text arrives; a streamed run replays identically.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from agentroute import Agent, BudgetExceededError, FixedTierPolicy, Model, Pipeline, RetryPolicy
from agentroute.agents import tool
from agentroute.budget import Budget, Ledger
from agentroute.engine import ModelCaller
from agentroute.engine.streaming import MIN_REPEAT, SEAM_WINDOW, Seam, joined, repeated
from agentroute.errors import RunError, StreamBrokenError
from agentroute.events import (
    BudgetReserve,
    ModelCallEvent,
    ModelSwitch,
    RunEnd,
    RunStart,
    ToolCallEvent,
)
from agentroute.fault_proxy import Cut, FaultProxy, Reset
from agentroute.models import FunctionEndpoint
from agentroute.testing import Break, FakeModelServer, Reply
from agentroute.trace import Tracer
from agentroute.types import Completion, Message, ModelRequest, TextDelta, Usage
from tests.conftest import run

ANSWER = (
    "Refunds go back to the card you paid with within five working days of the return "
    "reaching our warehouse; you get an email when it is on its way."
)
ONCE = RetryPolicy(max_attempts=1, attempt_timeout_s=5.0, deadline_s=10.0)
TWICE = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02,
                    attempt_timeout_s=5.0, deadline_s=10.0)  # fmt: skip


def continues(repeat: int = 0) -> Any:
    """A server that knows the answer: asked to continue a prefix of it, it sends the rest,
    starting ``repeat`` characters early (models often repeat the words before the break)."""

    def respond(body: dict[str, Any]) -> Reply:
        msgs = body["messages"]
        before = msgs[-2]["content"] if len(msgs) > 2 and msgs[-2]["role"] == "assistant" else ""
        assert ANSWER.startswith(before), before
        return Reply(ANSWER[max(0, len(before) - repeat) :] if before else ANSWER)

    return respond


async def collect(pipeline: Pipeline, task: str = "how do refunds work?") -> tuple[list[Any], Any]:
    stream = pipeline.stream(task)
    items = [item async for item in stream]
    return items, await stream.result()


def text_of(items: list[Any]) -> str:
    return "".join(i.text for i in items if isinstance(i, TextDelta))


# -- the seam ---------------------------------------------------------------------------------
def test_the_seam_takes_out_what_the_continuation_repeats() -> None:
    assert joined("one two thr", "three four") == "one two three four"
    assert joined("one two ", " three") == "one two three"
    assert joined("one two", " three") == "one two three"
    assert joined("so", "on we go") == "soon we go"  # two letters are chance, not a repeat
    assert joined("one two", "one two three") == "one two three"  # it started over
    assert repeated("", "abc") == 0


words = st.lists(st.sampled_from(["refund", "card", "days", "the", "a", "ship", "x1"]),
                 min_size=2, max_size=60)  # fmt: skip


@given(words, st.integers(0, 200), st.integers(0, 40), st.integers(1, 9))
def test_any_cut_and_any_repeat_join_back_to_the_answer(
    ws: list[str], cut: int, repeat: int, piece: int
) -> None:
    text = " ".join(ws)
    k = min(cut, len(text) - 1)
    r = min(repeat, k, SEAM_WINDOW)
    assume(r == 0 or r >= MIN_REPEAT)
    # no chance repeat at the cut: the text itself does not go on with what it just said
    assume(not any(text[k - m : k] == text[k : k + m] for m in range(MIN_REPEAT, k + 1)))
    before, after = text[:k], text[k - r :]
    seam, out = Seam(before), []
    for i in range(0, len(after), piece):  # streamed in pieces of any size
        out.append(seam.feed(after[i : i + piece]))
    out.append(seam.release())
    assert before + "".join(out) == text == joined(before, after)


# -- streamed runs ----------------------------------------------------------------------------
def test_a_streamed_run_gives_its_decisions_and_its_answer_as_they_happen(
    server: FakeModelServer,
) -> None:
    server.script(Reply(ANSWER))
    m = Model.openai_compatible(server.url, "m", price_in=1.0, price_out=2.0, retry=ONCE)
    items, result = run(collect(Pipeline([Agent("support", "refunds", models=[m])])))
    assert isinstance(items[0], RunStart) and items[0].streamed
    assert isinstance(items[-1], RunEnd) and items[-1].status == "ok"
    deltas = [i for i in items if isinstance(i, TextDelta)]
    assert len(deltas) > 10 and text_of(items) == result.output == ANSWER
    assert {(d.agent, d.model, d.purpose) for d in deltas} == {("support", "openai:m", "answer")}
    call = next(i for i in items if isinstance(i, ModelCallEvent))
    assert call.streamed and call.ok and items.index(call) > items.index(deltas[-1])
    assert result.cost_usd > 0 and result.trace.events(ModelCallEvent)[0].streamed


def test_an_anthropic_stream_with_a_tool_call_runs_the_tool_then_streams_the_answer(
    server: FakeModelServer,
) -> None:
    seen: list[str] = []

    @tool
    def order_status(order_id: str) -> str:
        """Where an order is."""
        seen.append(order_id)
        return "delivered"

    server.script(Reply("", tool_calls=(("order_status", {"order_id": "A7"}),)),
                  Reply("Your order A7 was delivered."))  # fmt: skip
    claude = Model.anthropic("claude-x", api_key="sk-test-not-real", base_url=server.root_url,
                             price_in=3.0, price_out=15.0,
                             retry=ONCE)  # fmt: skip
    agent = Agent("orders", "order status", models=[claude], tools=[order_status])
    items, result = run(collect(Pipeline([agent]), "where is order A7?"))
    assert seen == ["A7"]
    assert [i.ok for i in items if isinstance(i, ToolCallEvent)] == [True]
    assert text_of(items) == result.output == "Your order A7 was delivered."
    assert all(c.streamed for c in result.trace.events(ModelCallEvent))
    assert all(r.path.endswith("/messages") and r.body["stream"] for r in server.calls())


@pytest.mark.parametrize("fault", [Reset(after=0.45), Cut(after=0.6)])
def test_a_stream_that_breaks_mid_answer_goes_on_on_the_other_model_from_the_break(
    fault: Reset | Cut,
) -> None:
    with FakeModelServer(responder=continues(repeat=6)) as server, \
            FaultProxy(server.port) as proxy:  # fmt: skip
        proxy.script(fault)
        small = Model.openai_compatible(proxy.url, "small", tier="small", retry=ONCE)
        large = Model.openai_compatible(server.url, "large", tier="large", retry=ONCE)
        pipeline = Pipeline([Agent("support", "refunds", models=[small, large])],
                            policy=FixedTierPolicy("small"))  # fmt: skip
        items, result = run(collect(pipeline))
        assert text_of(items) == result.output == ANSWER  # nothing twice, nothing lost
        broken, resumed = result.trace.events(ModelCallEvent)
        assert not broken.ok and broken.partial and ANSWER.startswith(broken.partial)
        assert broken.error_type in ("TransportError", "StreamBrokenError")
        assert resumed.ok and resumed.model == "openai:large"
        assert resumed.continues == len(broken.partial)
        switch = [e for e in result.trace.events(ModelSwitch) if e.policy == "failover"]
        assert switch and f"{len(broken.partial)} characters" in switch[0].reason
        by_model = {i.model for i in items if isinstance(i, TextDelta)}
        assert by_model == {"openai:small", "openai:large"}
        report = run(pipeline.areplay(result.trace))  # zero model calls: the trace serves
        assert report.identical, report


def test_a_retry_on_the_same_model_continues_the_broken_stream() -> None:
    with FakeModelServer(responder=continues(repeat=3)) as server, \
            FaultProxy(server.port) as proxy:  # fmt: skip
        proxy.script(Reset(after=0.5))
        m = Model.openai_compatible(proxy.url, "m", retry=TWICE)
        pipeline = Pipeline([Agent("support", "refunds", models=[m])])
        items, result = run(collect(pipeline))
        assert text_of(items) == result.output == ANSWER
        first, second = result.trace.events(ModelCallEvent)
        assert (first.ok, second.ok, second.attempt) == (False, True, 2)
        assert second.continues == len(first.partial or "")
        prefill = server.calls()[-1].body["messages"][-2]
        assert prefill == {"role": "assistant", "content": first.partial}


def test_a_stream_that_stalls_past_its_timeout_goes_on_elsewhere() -> None:
    slow = RetryPolicy(max_attempts=1, attempt_timeout_s=0.6, deadline_s=5.0)
    with FakeModelServer() as stalls, FakeModelServer(responder=continues()) as fine:
        stalls.script(Reply(ANSWER, gap_s=0.1))  # 27 words: about 2.7 s in all
        small = Model.openai_compatible(stalls.url, "small", tier="small", retry=slow)
        large = Model.openai_compatible(fine.url, "large", tier="large", retry=ONCE)
        pipeline = Pipeline([Agent("support", "refunds", models=[small, large])],
                            policy=FixedTierPolicy("small"))  # fmt: skip
        items, result = run(collect(pipeline))
        assert text_of(items) == result.output == ANSWER
        broken = result.trace.events(ModelCallEvent)[0]
        assert broken.error_type == "AttemptTimeoutError" and broken.partial


def test_a_stream_past_max_tokens_is_stopped_with_a_typed_error(server: FakeModelServer) -> None:
    server.script(Reply(" ".join(["word"] * 80)))  # a server that ignores max_tokens=10
    m = Model.openai_compatible(server.url, "m", price_in=1.0, price_out=2.0, retry=ONCE)
    pipeline = Pipeline([Agent("support", "refunds", models=[m], max_tokens=10)])

    async def go() -> tuple[list[Any], BaseException]:
        stream, items = pipeline.stream("hi"), []
        try:
            async for item in stream:
                items.append(item)
        except BudgetExceededError as exc:
            return items, exc
        raise AssertionError("the stream was not stopped")

    items, exc = run(go())
    assert isinstance(exc, BudgetExceededError) and exc.unit == "tokens"
    assert len([i for i in items if isinstance(i, TextDelta)]) == 10  # stopped at the 11th
    end = [i for i in items if isinstance(i, RunEnd)]
    assert end and end[0].error_type == "BudgetExceededError"
    reserved = [i.amount_usd for i in items if isinstance(i, BudgetReserve)]
    assert end[0].cost_usd == pytest.approx(sum(reserved))  # billed at what was reserved


def test_a_stream_cut_before_its_final_chunk_is_a_broken_stream_not_an_answer(
    server: FakeModelServer,
) -> None:
    from agentroute.testing import Cut as ServerCut

    server.script(ServerCut(0.5))
    m = Model.openai_compatible(server.url, "m", retry=ONCE)
    pipeline = Pipeline([Agent("support", "refunds", models=[m])])
    with pytest.raises(StreamBrokenError) as caught:
        run(collect(pipeline))
    assert caught.value.partial.startswith("one two")
    assert caught.value.partial != "one two three four five six seven eight"


def test_the_first_piece_arrives_before_the_stream_ends(server: FakeModelServer) -> None:
    """Nothing under the client buffers the stream (the response cap reads as it goes)."""
    server.script(Reply("a b c d", gap_s=0.4))  # 1.2 s from first word to last
    m = Model.openai_compatible(server.url, "m", retry=ONCE)
    pipeline = Pipeline([Agent("support", "refunds", models=[m])])

    async def go() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        started, first = loop.time(), None
        async for item in pipeline.stream("hi"):
            if isinstance(item, TextDelta) and first is None:
                first = loop.time() - started
        assert first is not None
        return first, loop.time() - started

    first, total = run(go())
    assert total >= 1.2 and first < total - 0.8


def test_a_model_that_cannot_stream_answers_whole_to_a_listener() -> None:
    async def echo(request: ModelRequest) -> Completion:
        return Completion(text="all at once", model="fn", provider="function", usage=Usage())

    heard: list[str] = []
    caller = ModelCaller(
        Tracer(), Ledger(Budget()), connector=lambda m: FunctionEndpoint("echo", echo)
    )
    request = ModelRequest(messages=(Message.user("hi"),), prefill="all ")
    got = run(caller.call(Model.function("echo"), request, step=1, listen=heard.append))
    assert got.text == "all at once" and heard == ["at once"]  # the seam took "all " out


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_an_error_event_in_the_middle_of_a_stream_is_continued_by_the_retry(
    server: FakeModelServer, dialect: str
) -> None:
    server.script(Break(Reply(ANSWER), after=5))
    server.responder = continues() if dialect == "openai" else _anthropic_continues
    if dialect == "openai":
        m = Model.openai_compatible(server.url, "m", price_in=3.0, price_out=15.0, retry=TWICE)
    else:
        m = Model.anthropic("claude-x", api_key="sk-test-not-real", base_url=server.root_url,
                            price_in=3.0, price_out=15.0, retry=TWICE)  # fmt: skip
    items, result = run(collect(Pipeline([Agent("support", "refunds", models=[m])])))
    assert text_of(items) == result.output == ANSWER
    first, second = result.trace.events(ModelCallEvent)
    assert not first.ok and first.retryable and first.partial and second.ok
    assert second.continues == len(first.partial or "")
    assert first.cost_usd > 0  # the server was generating: billed as reserved


def _anthropic_continues(body: dict[str, Any]) -> Reply:
    """Claude continues a trailing assistant turn (the prefill, its end's whitespace cut)."""
    tail = body["messages"][-1]
    before = tail["content"] if tail["role"] == "assistant" else ""
    assert ANSWER.startswith(before)
    return Reply(ANSWER[len(before) :])


def test_a_refused_answer_is_no_start_for_the_next_model(server: FakeModelServer) -> None:
    server.script(Reply("x" * 40_000), model="small")  # cannot fit in max_tokens: refused
    server.script(Reply("fine"), model="large")
    small = Model.openai_compatible(server.url, "small", tier="small", retry=ONCE)
    large = Model.openai_compatible(server.url, "large", tier="large", retry=ONCE)
    agent = Agent("support", "refunds", models=[small, large], max_tokens=8)
    result = Pipeline([agent], policy=FixedTierPolicy("small")).run("hi")
    assert result.output == "fine"
    assert all(m["role"] != "assistant" for m in server.calls()[-1].body["messages"])


def test_closing_a_stream_stops_its_run_and_there_is_no_result(server: FakeModelServer) -> None:
    server.script(Reply("a b c d e f", gap_s=0.3))
    m = Model.openai_compatible(server.url, "m", retry=ONCE)
    pipeline = Pipeline([Agent("support", "refunds", models=[m])])

    async def go() -> list[object]:
        stream = pipeline.stream("hi")
        seen = []
        async for item in stream:
            seen.append(item)
            if isinstance(item, TextDelta):
                await stream.aclose()  # the client went away
        with pytest.raises(RunError, match="closed before"):
            await stream.result()
        return seen

    seen = run(go())
    assert [i.text for i in seen if isinstance(i, TextDelta)] == ["a"]
