"""Time to first token: a streamed agentroute run next to the bare ``openai`` client.

Both stream the same request from the same server, alternately, in one process: the bare
client from ``create(stream=True)`` to its first content chunk; agentroute from
``Pipeline.stream(task)`` to its first `TextDelta` (the run opens, routes, picks the model,
reserves the budget and traces each decision before the request goes out). Servers: the
embedded llama.cpp small model (``--server local``, real prompt processing) and the fake
OpenAI server (``--server fake``: no model time, so the difference is all overhead).

    .venv/bin/python benchmarks/stream_ttft.py [--server local|fake|both] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import openai

from agentroute import Agent, Model, Pipeline
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import TextDelta

SYSTEM = "You are the support agent: refunds and parcels."
TASK = "Where is my parcel? It was due yesterday."


async def bare(client: openai.AsyncOpenAI, model: str) -> float:
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model, max_tokens=16, temperature=0.0, stream=True,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}],
    )  # fmt: skip
    first = None
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    assert first is not None
    return first


async def ours(pipeline: Pipeline) -> float:
    started = time.perf_counter()
    first = None
    async for item in pipeline.stream(TASK):
        if first is None and isinstance(item, TextDelta):
            first = time.perf_counter() - started
    assert first is not None
    return first


async def compare(url: str, model_name: str, runs: int) -> tuple[list[float], list[float]]:
    client = openai.AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=0)
    model = Model.openai_compatible(url, model_name)
    pipeline = Pipeline([Agent("support", "refunds and parcels", models=[model],
                               instructions=SYSTEM, max_tokens=16)])  # fmt: skip
    await bare(client, model_name), await ours(pipeline)  # warm: connections, caches
    a, b = [], []
    for _ in range(runs):
        a.append(await bare(client, model_name))
        b.append(await ours(pipeline))
    await client.close()
    await pipeline.aclose()
    return a, b


def show(name: str, a: list[float], b: list[float]) -> None:
    ma, mb = statistics.median(a) * 1e3, statistics.median(b) * 1e3
    print(f"| {name} | {len(a)} | {ma:.2f} ms | {mb:.2f} ms | {mb - ma:+.2f} ms "
          f"| {100 * (mb - ma) / ma:+.1f}% |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["local", "fake", "both"], default="both")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(f"# time to first token, median of {args.runs} alternating runs, "
          f"{time.strftime('%Y-%m-%d')}")  # fmt: skip
    print("| server | runs | bare openai client | agentroute stream | added | added % |")
    print("|---|---|---|---|---|---|")
    if args.server in ("fake", "both"):
        with FakeModelServer(responder=lambda body: Reply("Your parcel is on its way.")) as s:
            show("fake OpenAI server (no model time)", *asyncio.run(compare(s.url, "m", args.runs)))
    if args.server in ("local", "both"):
        from agentroute.models.local.server import POOL

        url = POOL.url_for("small")
        show("embedded llama.cpp, small model", *asyncio.run(compare(url, "small", args.runs)))
        POOL.stop_all()


if __name__ == "__main__":
    main()
