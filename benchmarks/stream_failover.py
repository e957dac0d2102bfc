"""Mid-stream failover: streams cut at random byte offsets, each continued from the break.

Each run streams one known answer (120 words) from the small model through the fault proxy,
which resets the connection (or closes it) after a random fraction of the answer's bytes.
The engine continues the answer from where it broke: half the runs on the same model (a
retry), half on the large model (a failover). The server plays a model that, asked to
continue, starts over 0-6 words before the break, as real models often do (the answer has no
word twice in a row: a continuation that truly begins with the words the break ends with is
taken for a repeat, the seam's one blind spot). A run passes when
the caller's stream and the result are exactly the known answer (no text twice at the seam,
none lost) and the trace replays identically with zero model calls.

    .venv/bin/python benchmarks/stream_failover.py [--streams 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, RetryPolicy
from agentroute.events import ModelCallEvent
from agentroute.fault_proxy import Cut, FaultProxy, Reset
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import TextDelta

WORDS = [
    "refund",
    "parcel",
    "invoice",
    "courier",
    "warehouse",
    "label",
    "return",
    "card",
    "account",
    "order",
    "delivery",
    "address",
    "payment",
    "receipt",
    "tracking",
    "customs",
    "damaged",
    "missing",
    "exchange",
    "store",
]


def known_answer(rng: random.Random, words: int = 120) -> str:
    out = [rng.choice(WORDS)]
    while len(out) < words:
        out.append(rng.choice([w for w in WORDS if w != out[-1]]))
    return " ".join(out) + "."


def server_for(answer: str, rng: random.Random) -> Any:
    def respond(body: dict[str, Any]) -> Reply:
        msgs = body["messages"]
        before = msgs[-2]["content"] if len(msgs) > 2 and msgs[-2]["role"] == "assistant" else ""
        if not before:
            return Reply(answer)
        assert answer.startswith(before), "the prefill is not what the caller saw"
        start = len(before)
        for _ in range(rng.randint(0, 6)):  # back over whole words (and their spaces)
            start = max(0, answer.rfind(" ", 0, start - 1)) if start > 1 else 0
        return Reply(answer[start:])

    return respond


async def one(pipeline: Pipeline, answer: str) -> tuple[bool, bool, bool, int | None, str | None]:
    stream = pipeline.stream("explain the refund")
    pieces = [i.text async for i in stream if isinstance(i, TextDelta)]
    result = await stream.result()
    calls = result.trace.events(ModelCallEvent)
    broken = next((c for c in calls if not c.ok), None)
    seam = len(broken.partial or "") if broken is not None else None
    exact = "".join(pieces) == answer and result.output == answer
    replay = await pipeline.areplay(result.trace)
    return exact, broken is not None, replay.identical, seam, broken and broken.error_type


async def main(streams: int, seed: int) -> None:
    rng = random.Random(seed)
    answer = known_answer(rng)
    once = RetryPolicy(max_attempts=1, attempt_timeout_s=10.0, deadline_s=20.0)
    twice = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02,
                        attempt_timeout_s=10.0, deadline_s=20.0)  # fmt: skip
    rows: list[tuple[str, bool, bool, bool, int | None, str | None, float]] = []
    with FakeModelServer(responder=server_for(answer, rng)) as server, \
            FaultProxy(server.port) as proxy:  # fmt: skip
        for i in range(streams):
            retry = i % 2 == 0
            small = Model.openai_compatible(proxy.url, "small", tier="small",
                                            retry=twice if retry else once)  # fmt: skip
            large = Model.openai_compatible(server.url, "large", tier="large", retry=once)
            models = [small] if retry else [small, large]
            pipeline = Pipeline([Agent("support", "refunds", models=models)],
                                policy=FixedTierPolicy("small"))  # fmt: skip
            at = rng.uniform(0.02, 0.98)
            proxy.script(Reset(after=at) if rng.random() < 0.5 else Cut(after=at))
            exact, broke, same, seam, why = await one(pipeline, answer)
            rows.append(("retry" if retry else "failover", exact, broke, same, seam, why, at))
            await pipeline.aclose()
    report(rows, streams, len(answer))


def report(rows: list[Any], streams: int, chars: int) -> None:
    print(f"# mid-stream failover, {streams} streams of a {chars}-character answer, "
          f"{time.strftime('%Y-%m-%d')}")  # fmt: skip
    print("| continued by | streams | broke mid-answer | exact (no text twice or lost) "
          "| replays identical | seam at (characters) min / median / max |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for kind in ("retry", "failover"):
        mine = [r for r in rows if r[0] == kind]
        seams = sorted(r[4] for r in mine if r[4] is not None)
        spread = f"{seams[0]} / {seams[len(seams) // 2]} / {seams[-1]}" if seams else "-"
        print(f"| {kind} | {len(mine)} | {sum(r[2] for r in mine)} | "
              f"{sum(r[1] for r in mine)} | {sum(r[3] for r in mine)} | {spread} |")  # fmt: skip
    whys: dict[str, int] = {}
    for r in rows:
        if r[5]:
            whys[r[5]] = whys.get(r[5], 0) + 1
    print("errors at the break:", ", ".join(f"{k} {v}" for k, v in sorted(whys.items())))
    failed = [r for r in rows if not (r[1] and r[3])]
    print(f"failed: {len(failed)}" + (f" (first at fraction {failed[0][6]:.3f})" if failed else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.streams, args.seed))
