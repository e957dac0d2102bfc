"""Ray fleet throughput against the single-process runtime, on the same tasks and the same
server (a minimal asyncio HTTP responder in its own process; see call_overhead.py).

Each task is a one-agent pipeline making one model call. The single-process runtime runs all
tasks concurrently in one event loop; the fleet spreads them over Ray worker processes (each
running its share concurrently), with the fleet budget escrow in the loop.

With ``--cpu-ms`` each task also does that much pure-Python work, which one process cannot
spread over cores and a fleet can.

    .venv/bin/python benchmarks/fleet_throughput.py [--tasks 2000] [--workers 1 2 4] [--cpu-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import ray
from call_overhead import start_server

from agentroute import Agent, FixedTierPolicy, Model, Pipeline
from agentroute.runtime.ray_fleet import Fleet


async def gather_locally(build, tasks):  # type: ignore[no-untyped-def]
    """The single-process baseline: the same tasks on one runner, concurrently."""
    runner = build()
    return await asyncio.gather(*(runner.arun(t) for t in tasks), return_exceptions=True)


class WithCpuWork:
    """A task that also does ``cpu_ms`` of pure-Python work (parsing, scoring, a local tool)."""

    def __init__(self, pipeline: Pipeline, cpu_ms: float) -> None:
        self.pipeline, self.cpu_ms = pipeline, cpu_ms

    async def arun(self, task: str):  # type: ignore[no-untyped-def]
        end = time.perf_counter() + self.cpu_ms / 1000
        while time.perf_counter() < end:
            sum(i * i for i in range(200))
        return await self.pipeline.arun(task)


def builder(url: str, cpu_ms: float = 0.0):  # type: ignore[no-untyped-def]
    def build():  # type: ignore[no-untyped-def]
        model = Model.openai_compatible(url, "m", tier="small", price_in=1.0, price_out=2.0)
        pipeline = Pipeline([Agent("solo", "answers", models=[model], max_tokens=16)],
                            policy=FixedTierPolicy("small"))  # fmt: skip
        return WithCpuWork(pipeline, cpu_ms) if cpu_ms else pipeline

    return build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--cpu-ms", type=float, default=0.0, help="CPU work per task")
    args = parser.parse_args()
    proc, url = start_server()
    tasks = [f"question {i}" for i in range(args.tasks)]
    try:
        started = time.perf_counter()
        out = asyncio.run(gather_locally(builder(url, args.cpu_ms), tasks))
        wall = time.perf_counter() - started
        failed = sum(isinstance(o, BaseException) for o in out)
        print(f"single process: {args.tasks / wall:7.1f} tasks/s ({failed} failed)")
        ray.init(include_dashboard=False, log_to_driver=False, object_store_memory=200_000_000)
        for workers in args.workers:
            fleet = Fleet(workers=workers, budget_usd=1000.0)
            fleet.run(
                builder(url, args.cpu_ms), tasks[:50], task_budget_usd=0.01
            )  # warm the imports
            started = time.perf_counter()
            results = fleet.run(builder(url, args.cpu_ms), tasks, task_budget_usd=0.01)
            wall = time.perf_counter() - started
            bad = sum(not r.ok for r in results)
            print(f"ray fleet, {workers} workers: {args.tasks / wall:7.1f} tasks/s "
                  f"({bad} failed; spent ${fleet.spend()['spent']:.4f})")  # fmt: skip
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
