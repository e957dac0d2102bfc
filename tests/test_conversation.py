"""Multi-turn sessions: every turn sees the conversation so far (agents the messages, routers
the last turns with the new message), the history survives a save and load, and a turn
replays with zero model calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentroute import Agent, Conversation, FixedTierPolicy, Model, Pipeline
from agentroute.errors import ConfigError
from agentroute.events import RunStart
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import Message, TextDelta, ToolCall
from tests.conftest import FAST_RETRY, run


def support(server: FakeModelServer, router: str = "first") -> Pipeline:
    model = Model.openai_compatible(server.url, "m", price_in=1.0, price_out=2.0,
                                    retry=FAST_RETRY)  # fmt: skip
    return Pipeline(
        [Agent("billing", "refunds and invoices", models=[model]),
         Agent("shipping", "late or lost parcels", models=[model])],
        router=router, policy=FixedTierPolicy("small"),
    )  # fmt: skip


def roles(body: dict[str, object]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body["messages"]]  # type: ignore[attr-defined, index]


def test_the_second_turn_sees_the_first(server: FakeModelServer) -> None:
    server.script(Reply("Order 12 was refunded on Monday."), Reply("Order 13 ships tomorrow."))
    conv = Conversation(support(server))
    assert conv.ask("Was order 12 refunded?").output == "Order 12 was refunded on Monday."
    second = conv.ask("And order 13?")
    assert second.output == "Order 13 ships tomorrow."
    sent = roles(server.calls()[-1].body)
    assert sent[1:] == [("user", "Was order 12 refunded?"),
                        ("assistant", "Order 12 was refunded on Monday."),
                        ("user", "And order 13?")]  # fmt: skip
    assert [m.role for m in conv.messages] == ["user", "assistant", "user", "assistant"]
    start = second.trace.events(RunStart)[0]
    assert [m["content"] for m in start.history] == [
        "Was order 12 refunded?", "Order 12 was refunded on Monday."]  # fmt: skip
    assert support(server).replay(second.trace).identical  # the history is in the trace


def test_a_router_reads_the_last_turns_with_the_new_message(server: FakeModelServer) -> None:
    server.script(Reply("Agents: billing"), Reply("Refunded."))
    pipeline = support(server, router="reasoning")
    history = (Message.user("My parcel 7 is late"), Message.assistant("It ships today."))
    pipeline.run("Now I want a refund instead", history=history)
    routed = server.calls()[0].body["messages"][-1]["content"]
    assert "Conversation so far" in routed and "My parcel 7 is late" in routed
    assert routed.index("parcel 7") < routed.index("Now I want a refund instead")


def test_a_conversation_can_be_given_as_messages_and_bad_ones_are_refused(
    server: FakeModelServer,
) -> None:
    server.script(Reply("Yes."))
    pipeline = support(server)
    msgs = [Message.user("hi"), Message.assistant("hello"), Message.user("refund order 5?")]
    assert pipeline.run(msgs).output == "Yes."
    assert roles(server.calls()[-1].body)[1:] == [(m.role, m.content) for m in msgs]
    with pytest.raises(ConfigError, match="end with the user"):
        pipeline.run([Message.user("hi"), Message.assistant("hello")])
    call = ToolCall(id="c1", name="t", arguments="{}")
    with pytest.raises(ConfigError, match="tool calls"):
        pipeline.run("next", history=[Message.assistant("", (call,))])
    with pytest.raises(ConfigError, match="not a Message"):
        pipeline.run("next", history=["hi"])  # type: ignore[list-item]


def test_a_saved_conversation_goes_on_after_a_restart(
    server: FakeModelServer, tmp_path: Path
) -> None:
    server.script(Reply("Refund issued."), Reply("You will see it in 5 days."))
    first = Conversation(support(server))
    first.ask("Refund order 9")
    saved = first.save(tmp_path / "conv.json")
    again = Conversation.load(support(server), saved)  # a new pipeline, as after a restart
    again.ask("When will I see it?")
    assert roles(server.calls()[-1].body)[1:3] == [("user", "Refund order 9"),
                                                   ("assistant", "Refund issued.")]  # fmt: skip
    assert len(again.messages) == 4
    (tmp_path / "bad.json").write_text('{"version": 1, "messages": [{"role": "robot"}]}')
    with pytest.raises(ConfigError):
        Conversation.load(support(server), tmp_path / "bad.json")


def test_a_streamed_turn_joins_the_history_when_it_ends(server: FakeModelServer) -> None:
    server.script(Reply("one two three"))
    conv = Conversation(support(server))

    async def go() -> str:
        stream = conv.stream("count")
        text = "".join([i.text async for i in stream if isinstance(i, TextDelta)])
        await stream.result()
        await conv.pipeline.aclose()
        return text

    assert run(go()) == "one two three"
    said = [(m.role, m.content) for m in conv.messages]
    assert said == [("user", "count"), ("assistant", "one two three")]
