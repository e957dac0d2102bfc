"""The ACO router under load: thousands of tasks, up to 1,000 in flight, in one process,
every agent call a real HTTP request to the fake OpenAI-compatible server on 127.0.0.1.

The workload is `aco_routing`'s (same tasks, agents and right/wrong draws; the server answers
"right" or "wrong" by looking the draw up). For each concurrency level a fresh colony serves
the stream with learning on, starting from the tables a warm-up third of the stream left
(a serving colony has learned tables; a cold one at 1,000 in flight would make its first
1,000 choices blind, whatever the algorithm). Agents do not degrade here. Reported:
throughput, decision latency (intent inference plus the ant's choice, from the trace: first
``ant_step`` minus ``run_start``), p50 / p99, and accuracy. Learning is asynchronous, so
more tasks in flight means staler pheromones; the question is whether accuracy holds as
concurrency rises.

    .venv/bin/python benchmarks/aco_load.py [--tasks 3000] [--embed-cache PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aco_routing import PRICE, TYPES, build, cached_intent, is_right

from agentroute.aco import AgentNode, Colony, PheromoneMemory, PheromoneUpdater
from agentroute.models import Model, RetryPolicy, connect
from agentroute.runtime.colony_run import ColonyRunner, StageResult
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import Message, ModelRequest

NO_DROP = 10**9  # no agent degrades here: this measures load, not adaptation
WARM = Path(tempfile.gettempdir()) / "agentroute-aco-warm.json"


async def level(tasks: list[Any], intent: Any, server: FakeModelServer, concurrency: int,
                seed: int, start: Path | None) -> tuple[float, float, float, float]:  # fmt: skip
    n = len(tasks)
    retry = RetryPolicy(max_attempts=1, attempt_timeout_s=60.0, deadline_s=120.0)
    endpoints = {a: connect(Model.openai_compatible(server.url, a, retry=retry)) for a in PRICE}
    nodes = [AgentNode(a, default_ability=0.5) for a in PRICE]
    memory = PheromoneMemory.load(start) if start else PheromoneMemory(list(TYPES))
    colony = Colony([nodes], memory, alpha=3.0, rng=random.Random(seed))
    updater = PheromoneUpdater(colony.memory, rho=0.05, deposit=0.1, cost_ref=1000.0)

    async def execute(node: str, query: str, previous: str) -> StageResult:
        request = ModelRequest(messages=(Message.user(query),), max_tokens=4)
        completion = await endpoints[node].complete(request, timeout_s=60.0)
        return StageResult(completion.text)

    runner = ColonyRunner(colony, updater, intent, execute, lambda q, out: float(out == "right"))
    gate = asyncio.Semaphore(concurrency)
    decisions: list[float] = []
    offset = tasks[0].i
    right = 0

    async def one(i: int) -> None:
        nonlocal right
        async with gate:
            result = await runner.run(f"[{offset + i}] {tasks[i].text}")
            start, step = result.trace[0], result.trace[1]
            decisions.append(step.ts - start.ts)
            right += result.output == "right"

    t0 = time.perf_counter()
    async with updater:
        await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    for ep in endpoints.values():
        await ep.aclose()
    if start is None:
        memory.save(WARM)
    ms = sorted(d * 1000 for d in decisions)
    return n / wall, statistics.median(ms), ms[int(0.99 * (len(ms) - 1))], right / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--embed-cache", type=Path)
    args = parser.parse_args()
    tasks, examples = build(args.tasks, args.seed)
    texts = sorted({t.text for t in tasks} | {x for v in examples.values() for x in v})
    intent = cached_intent(examples, texts, args.embed_cache)
    n = len(tasks)

    def respond(body: dict[str, Any]) -> Reply:
        i = int(re.match(r"\[(\d+)\]", body["messages"][-1]["content"]).group(1))  # type: ignore[union-attr]
        ok = is_right(tasks[i], body["model"], NO_DROP)
        return Reply("right" if ok else "wrong", usage=(40, 1))

    warm, serve = tasks[: n // 3], tasks[n // 3 :]
    with FakeModelServer(responder=respond) as server:
        _, _, _, acc = asyncio.run(level(warm, intent, server, 10, args.seed, None))
        print(f"warm-up: {len(warm)} tasks at 10 in flight, learning from scratch: {acc:.1%} right")
        print(f"then {len(serve)} tasks per level, each from the warm tables, learning on:\n")
        print("| tasks in flight | tasks/s | decision ms p50 | p99 | accuracy |")
        print("|---|---|---|---|---|")
        for c in (1, 10, 100, 1000):
            tput, p50, p99, acc = asyncio.run(level(serve, intent, server, c, args.seed, WARM))
            print(f"| {c} | {tput:.0f} | {p50:.2f} | {p99:.2f} | {acc:.1%} |", flush=True)


if __name__ == "__main__":
    main()
