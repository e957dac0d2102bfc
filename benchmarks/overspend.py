"""Budgets under adversarial usage: many tasks with parallel branches, against a fake server
that reports random usage, sometimes more than ``max_tokens`` allows (a lying server).

For every task: spent / budget (must stay <= 1.0 whenever the server honours max_tokens) and
whether an overshoot was detected. Each task routes to two agents that answer in parallel
and a refining call merges them, all sharing one ledger.

    .venv/bin/python benchmarks/overspend.py [--tasks 10000] [--liar-share 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time

from agentroute import (
    Agent,
    AgentrouteError,
    BudgetExceededError,
    FixedTierPolicy,
    Model,
    Pipeline,
    ReasoningRouter,
    RetryPolicy,
)
from agentroute.events import BudgetSettle, RunEnd, RunStart
from agentroute.testing import FakeModelServer, Reply


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--liar-share", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(11)
    lock = threading.Lock()
    lies = {"n": 0}

    def responder(body: dict) -> Reply:  # type: ignore[type-arg]
        # an honest server never counts more prompt tokens than the prompt has bytes, nor more
        # output than max_tokens; a lying one ignores max_tokens
        with lock:
            max_tokens = int(body["max_tokens"])
            prompt_bytes = sum(len(m["content"].encode()) for m in body["messages"])
            lie = rng.random() < args.liar_share
            out = (
                rng.randint(max_tokens + 1, 4 * max_tokens + 8)
                if lie
                else rng.randint(0, max_tokens)
            )
            lies["n"] += lie
            text = "Reason: both\nAgents: billing, shipping" if "router" in str(body) else "ok"
            return Reply(text, usage=(rng.randint(1, prompt_bytes), out))

    with FakeModelServer(responder=responder) as server:
        retry = RetryPolicy(max_attempts=1)
        small = Model.openai_compatible(
            server.url, "small", tier="small", price_in=1.0, price_out=3.0, retry=retry
        )
        agents = [
            Agent("billing", "refunds", models=[small], max_tokens=200),
            Agent("shipping", "parcels", models=[small], max_tokens=200),
        ]
        ratios_honest: list[float] = []
        detected = refused = completed = other = 0
        sem = asyncio.Semaphore(args.concurrency)

        async def one(budget: float) -> None:
            nonlocal detected, refused, completed, other
            pipeline_b = Pipeline(
                agents,
                router=ReasoningRouter(max_agents=2),
                policy=FixedTierPolicy("small"),
                budget_usd=budget,
            )
            async with sem:
                try:
                    trace = (await pipeline_b.arun("help me with a refund and a parcel")).trace
                    completed += 1
                except BudgetExceededError as exc:
                    trace = exc.trace  # type: ignore[attr-defined]
                except AgentrouteError:  # e.g. the fake server dropping a connection under load
                    other += 1
                    return
            end = trace.events(RunEnd)[-1]
            over = any(s.overshoot_usd > 0 for s in trace.events(BudgetSettle))
            if over:
                detected += 1
            elif end.error_type == "BudgetExceededError":
                refused += 1
            if not over:
                ratios_honest.append(end.cost_usd / budget)
            assert trace.events(RunStart)

        async def run_all() -> None:
            budgets = [rng.uniform(0.0002, 0.004) for _ in range(args.tasks)]
            await asyncio.gather(*(one(b) for b in budgets))

        started = time.perf_counter()
        asyncio.run(run_all())
        wall = time.perf_counter() - started
    print(
        f"# overspend, {args.tasks} tasks (2 parallel agents + refine each), "
        f"liar share {args.liar_share:.0%}, {time.strftime('%Y-%m-%d')}"
    )
    print(
        "| tasks | completed | stopped by budget (honest server) | overshoots detected "
        "| lying answers sent | other errors | max spent/budget, honest tasks "
        "| honest tasks over budget | wall |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.tasks} | {completed} | {refused} | {detected} | {lies['n']} | {other} | "
        f"{max(ratios_honest):.6f} | {sum(r > 1.0 for r in ratios_honest)} | {wall:.0f} s |"
    )


if __name__ == "__main__":
    main()
