"""The ACO router under load: thousands of tasks, up to 1,000 in flight, in one process,
every agent call a real HTTP request to the fake OpenAI-compatible server on 127.0.0.1.

The workload is `aco_routing`'s (same tasks, agents and right/wrong draws; the server answers
"right" or "wrong" by looking the draw up). For each concurrency level a fresh colony serves
the stream with learning on, starting from the tables a warm-up third of the stream left
(a serving colony has learned tables; a cold one at 1,000 in flight would make its first
1,000 choices blind, whatever the algorithm). Agents do not degrade here. Learning is
asynchronous, so more tasks in flight means staler pheromones; the question is whether
accuracy holds as concurrency rises. Colonies compared (settings as in `aco_routing`):

- trail rule with the old raw in-flight penalty in eta (``load_penalty`` 0.5), and without;
- rate rule with the exploration bonus (0.3, the routing benchmark's) and a stronger one
  (0.5), each with the in-flight ledger and with the ledger made blind (it reports no work
  in flight): what counting work in flight as evidence on its way does.

Reported for the rate colony: throughput, decision latency (intent inference plus the ant's
choice, from the trace: first ``ant_step`` minus ``run_start``), p50 / p99; for every colony,
accuracy per level.

    .venv/bin/python benchmarks/aco_load.py [--tasks 3000] [--embed-cache PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aco_routing import PRICE, Setup, build, cached_intent, is_right

from agentroute.aco import Bounds, InFlight, PheromoneMemory, PheromoneUpdater
from agentroute.models import Model, RetryPolicy, connect
from agentroute.runtime.colony_run import ColonyRunner, StageResult
from agentroute.testing import FakeModelServer, Reply
from agentroute.types import Message, ModelRequest

NO_DROP = 10**9  # no agent degrades here: this measures load, not adaptation
LEVELS = (1, 10, 100, 1000)


class Blind(InFlight):
    """An in-flight ledger that reports no work in flight (the ablation)."""

    def pending(self, edge: tuple[str, str], task_type: str) -> float:
        return 0.0


TRAIL = {"rule": "trail", "alpha": 3.0, "rho": 0.05, "deposit": 0.1}
RATE = {"rule": "rate", "alpha": 80.0, "rho": 0.01, "prior": 0.5, "prior_weight": 2.0}
SETUPS = [  # label, setup, blind ledger
    ("trail + old penalty 0.5", Setup("trail", load_penalty=0.5, bounds=Bounds(), **TRAIL), False),  # type: ignore[arg-type]
    ("trail", Setup("trail", bounds=Bounds(), **TRAIL), False),  # type: ignore[arg-type]
    ("rate, explore 0.3", Setup("rate", explore=0.3, **RATE), False),  # type: ignore[arg-type]
    ("rate, explore 0.3, blind ledger", Setup("rate", explore=0.3, **RATE), True),  # type: ignore[arg-type]
    ("rate, explore 0.5", Setup("rate", explore=0.5, **RATE), False),  # type: ignore[arg-type]
    ("rate, explore 0.5, blind ledger", Setup("rate", explore=0.5, **RATE), True),  # type: ignore[arg-type]
]  # fmt: skip


async def level(tasks: list[Any], intent: Any, server: FakeModelServer, concurrency: int,
                seed: int, setup: Setup, blind: bool, warm: Path,
                start: bool) -> tuple[float, float, float, float]:  # fmt: skip
    n = len(tasks)
    retry = RetryPolicy(max_attempts=1, attempt_timeout_s=60.0, deadline_s=120.0)
    endpoints = {a: connect(Model.openai_compatible(server.url, a, retry=retry)) for a in PRICE}
    colony = setup.colony(seed)
    if start:
        colony.memory = PheromoneMemory.load(warm)
    if blind:
        colony.inflight = Blind()
    updater = PheromoneUpdater(colony.memory, rho=setup.rho, deposit=setup.deposit,
                               cost_ref=1000.0)  # fmt: skip

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
            first, step = result.trace[0], result.trace[1]
            decisions.append(step.ts - first.ts)
            right += result.output == "right"

    t0 = time.perf_counter()
    async with updater:
        await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    for ep in endpoints.values():
        await ep.aclose()
    assert not len(colony.inflight), "every step is settled once its run ends"
    if not start:
        colony.memory.save(warm)
    ms = sorted(d * 1000 for d in decisions)
    return n / wall, statistics.median(ms), ms[int(0.99 * (len(ms) - 1))], right / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--embed-cache", type=Path)
    parser.add_argument("--only", help="run only the colonies whose label has this text")
    args = parser.parse_args()
    tasks, examples = build(args.tasks, args.seed)
    texts = sorted({t.text for t in tasks} | {x for v in examples.values() for x in v})
    intent = cached_intent(examples, texts, args.embed_cache)
    n = len(tasks)

    def respond(body: dict[str, Any]) -> Reply:
        i = int(re.match(r"\[(\d+)\]", body["messages"][-1]["content"]).group(1))  # type: ignore[union-attr]
        ok = is_right(tasks[i], body["model"], NO_DROP)
        return Reply("right" if ok else "wrong", usage=(40, 1))

    warm_tasks, serve = tasks[: n // 3], tasks[n // 3 :]
    chosen = [x for x in SETUPS if args.only is None or args.only in x[0]]
    accuracy: dict[str, dict[int, float]] = {}
    speed: dict[int, tuple[float, float, float]] = {}
    print(f"warm-up: {len(warm_tasks)} tasks at 10 in flight, learning from scratch; then "
          f"{len(serve)} tasks per level, each from the warm tables, learning on")  # fmt: skip
    with FakeModelServer(responder=respond) as server, tempfile.TemporaryDirectory() as tmp:
        for label, setup, blind in chosen:
            warm = Path(tmp) / "warm.json"
            _, _, _, acc = asyncio.run(
                level(warm_tasks, intent, server, 10, args.seed, setup, blind, warm, False)
            )
            print(f"{label}: warm-up {acc:.1%} right", flush=True)
            accuracy[label] = {}
            for c in LEVELS:
                tput, p50, p99, acc = asyncio.run(
                    level(serve, intent, server, c, args.seed, setup, blind, warm, True)
                )
                accuracy[label][c] = acc
                if label == "rate, explore 0.3":
                    speed[c] = (tput, p50, p99)
                print(f"  {c} in flight: {acc:.1%} right, {tput:.0f} tasks/s, decision ms "
                      f"p50 {p50:.2f} p99 {p99:.2f}", flush=True)  # fmt: skip
    print("\naccuracy by tasks in flight:\n")
    print("| tasks in flight | " + " | ".join(accuracy) + " |")
    print("|---" * (len(accuracy) + 1) + "|")
    for c in LEVELS:
        print(f"| {c} | " + " | ".join(f"{accuracy[k][c]:.1%}" for k in accuracy) + " |")
    if speed:
        print("\nthe rate colony (explore 0.3):\n")
        print("| tasks in flight | tasks/s | decision ms p50 | p99 |")
        print("|---|---|---|---|")
        for c, (tput, p50, p99) in speed.items():
            print(f"| {c} | {tput:.0f} | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    main()
