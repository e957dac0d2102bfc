"""A multi-turn support session that streams, hands off, and asks a person to approve a refund.

A front-desk agent takes every message and hands it to the specialist it belongs to
(``transfer_to_shipping`` / ``transfer_to_billing``, tools its model calls); each turn sees the
conversation so far and streams its answer and its decisions as they happen (the shipping
agent reads the customer's parcels from its instructions, as a CRM would put them); the billing
agent's ``refund`` tool needs a person's approval, so that turn pauses, its checkpoint is
saved to a file and loaded again (as another process would), and it goes on once the person
decides. One budget per turn, one trace per run; every run but the resumed one replays with
zero model calls.

    python cookbook/support_session.py [--deny] [--base-url URL --small M --large M]
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute import Agent, Conversation, FixedTierPolicy, Pause, Pipeline, Result, tool
from agentroute.events import HandoffEvent, PauseEvent, ResumeEvent, ToolCallEvent
from agentroute.types import TextDelta

TURNS = (
    "Hi, where is my parcel 7?",
    "It arrived broken. Please refund the 49.90 I paid for order 7.",
)


@tool(approval=True)
def refund(order_id: str, amount: float) -> str:
    """Refund an order to the card it was paid with (a person approves each refund)."""
    return f"refunded {amount:.2f} for order {order_id}"


def session_pipeline(args: object) -> Pipeline:
    _, large = small_and_large(args)  # type: ignore[arg-type]
    desk = Agent("front_desk", "first contact: greets and hands each request on",
                 instructions="You are the front desk. Hand every request to the agent it "
                 "belongs to with a transfer tool; do not answer it yourself.",
                 models=[large], handoffs=["shipping", "billing"], max_tokens=120)  # fmt: skip
    shipping = Agent("shipping", "parcels: where they are, late or lost ones",
                     instructions="You are the shipping agent. The customer's parcels: "
                     "parcel 7 (order 7) was delivered yesterday at 14:02. Answer in one or "
                     "two sentences.", models=[large], handoffs=["billing"],
                     max_tokens=160)  # fmt: skip
    billing = Agent("billing", "refunds, charges and invoices",
                    instructions="You are the billing agent. Refund with the refund tool "
                    "when asked, then tell the customer in one or two sentences what happened.",
                    models=[large], tools=[refund], max_tokens=160)  # fmt: skip
    return Pipeline([desk, shipping, billing], router="first", budget_usd=0.01,
                    policy=FixedTierPolicy("large"))  # fmt: skip


async def turn(conv: Conversation, text: str) -> Result:
    """One streamed turn: the answer as it comes, the decisions in brackets."""
    print(f"\ncustomer: {text}\nagent: ", end="", flush=True)
    stream = conv.stream(text)
    async for item in stream:
        if isinstance(item, TextDelta):
            print(item.text, end="", flush=True)
        elif isinstance(item, HandoffEvent):
            print(f"\n  [handoff {item.agent} -> {item.to}: {item.reason}]\nagent: ", end="")
        elif isinstance(item, ToolCallEvent):
            print(f"\n  [tool {item.tool}: {item.result}]\nagent: ", end="")
        elif isinstance(item, PauseEvent):
            print(f"\n  [waiting for a person: {item.question['tool']} "
                  f"{item.question['arguments']}]")  # fmt: skip
    return await stream.result()


async def session(pipeline: Pipeline, deny: bool, folder: Path) -> list[Result]:
    conv, results = Conversation(pipeline), []
    for text in TURNS:
        result = await turn(conv, text)
        results.append(result)
        if result.paused is not None:
            saved = result.paused.save(folder / "pause.json")  # what another process loads
            print(f"  [a person {'declines' if deny else 'approves'} it ({saved.name})]")
            decision = "reject" if deny else "approve"
            result = await conv.aresume(Pause.load(saved), decision,
                                        "damage not shown yet" if deny else "")  # fmt: skip
            print(f"agent: {result.output}")
            results.append(result)
        print(f"  [{'+'.join(result.agents)}, {result.model_calls} calls, "
              f"${result.cost_usd:.6f}]")  # fmt: skip
    await pipeline.aclose()
    return results


def main() -> None:
    parser = cookbook_parser(__doc__, task=None)
    parser.add_argument("--deny", action="store_true", help="the person declines the refund")
    args = parser.parse_args()
    pipeline = session_pipeline(args)
    with tempfile.TemporaryDirectory() as folder:
        results = asyncio.run(session(pipeline, args.deny, Path(folder)))
    print(f"\n{len(results)} runs, ${sum(r.cost_usd for r in results):.6f} in all")
    if args.check_replay:  # a run resumed from a checkpoint does not replay (yet): the rest do
        fresh = [r for r in results if not r.trace.events(ResumeEvent)]
        report_replays([lambda r=r: pipeline.replay(r.trace) for r in fresh])


if __name__ == "__main__":
    main()
