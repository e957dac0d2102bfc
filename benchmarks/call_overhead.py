"""Added latency per model call, and 1,000 concurrent tasks, against a fake OpenAI-compatible
server running in its own process.

The server is `stub_server.py`, a minimal asyncio HTTP/1.1 responder with a fixed answer in its
own process, so the figures are the client side's. Added latency: the same request sent N times
one after another by the bare `openai` client, by agentroute's `ModelCaller` (budget reserve
and settle, the retry layer, a trace event with the whole response) and, with
``--litellm-python``, by LiteLLM's `Router` in its own virtual environment (its baseline,
the bare client, is measured in that same process). Added = median minus the bare client's median.

Concurrency: 1,000 tasks of 5 steps each (a 5-node graph, one model call per node) in one
process: throughput, step latency p50/p99, the model call's share, peak Python memory per task
in flight (growth of the process's peak RSS over the run, divided by the tasks), and
submitted = completed + failed.

    .venv/bin/python benchmarks/call_overhead.py [--calls 400] [--tasks 1000]
        [--litellm-python /path/to/venv/bin/python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stub_server

PEER = """
import asyncio, json, os, statistics, sys, time
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import openai, litellm
from litellm import Router
url, n = sys.argv[1], int(sys.argv[2])
msgs = [{"role": "user", "content": "hello"}]
async def main():
    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    router = Router(model_list=[{"model_name": "m", "litellm_params": {
        "model": "openai/m", "api_base": url, "api_key": "x"}}], num_retries=0)
    async def bare():
        await client.chat.completions.create(model="m", messages=msgs, max_tokens=16)
    async def lite():
        await router.acompletion(model="m", messages=msgs, max_tokens=16)
    out = {}
    for name, fn in (("bare", bare), ("litellm", lite), ("bare2", bare), ("litellm2", lite)):
        for _ in range(30):
            await fn()
        t = []
        for _ in range(n):
            s = time.perf_counter(); await fn(); t.append(time.perf_counter() - s)
        out[name] = statistics.median(t)
    print(json.dumps({"bare": min(out["bare"], out["bare2"]),
                      "litellm": min(out["litellm"], out["litellm2"]),
                      "version": litellm.__version__ if hasattr(litellm, "__version__") else "?"}))
asyncio.run(main())
"""


async def added_latency(url: str, n: int) -> dict[str, float]:
    import openai

    from agentroute.budget import Budget, Ledger
    from agentroute.engine.calls import ModelCaller
    from agentroute.models import Model
    from agentroute.trace import Tracer
    from agentroute.types import Message, ModelRequest

    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    model = Model.openai_compatible(url, "m", tier="small")
    request = ModelRequest(messages=(Message.user("hello"),), max_tokens=16)
    caller = ModelCaller(Tracer(), Ledger(Budget(usd=1e9)))

    async def bare() -> None:
        await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hello"}], max_tokens=16
        )

    async def ours() -> None:
        await caller.call(model, request, step=0)

    out: dict[str, list[float]] = {"bare": [], "agentroute": []}
    for _ in range(2):  # alternate to even out drift
        for name, fn in (("bare", bare), ("agentroute", ours)):
            for _ in range(30):
                await fn()
            for _ in range(n // 2):
                started = time.perf_counter()
                await fn()
                out[name].append(time.perf_counter() - started)
    await caller.aclose()
    await client.close()
    return {k: statistics.median(v) for k, v in out.items()}


async def concurrency(url: str, tasks: int) -> dict[str, float]:
    from agentroute.budget import Budget, Ledger
    from agentroute.engine.calls import ModelCaller
    from agentroute.graph import TaskGraph
    from agentroute.models import Model, ModelEndpoint, connect
    from agentroute.runtime import GraphRunner, NodeContext
    from agentroute.trace import Tracer
    from agentroute.types import Message, ModelRequest

    model = Model.openai_compatible(url, "m", tier="small")
    shared: dict[str, ModelEndpoint] = {}

    def pooled(m: Model) -> ModelEndpoint:  # one client for all tasks, as a server would hold
        if m.label not in shared:
            shared[m.label] = connect(m)
        return shared[m.label]

    request = ModelRequest(messages=(Message.user("hello"),), max_tokens=16)
    gate = asyncio.Semaphore(int(os.environ.get("GATE", "1000000")))
    steps: list[float] = []
    calls: list[float] = []
    overheads: list[float] = []
    chain = [(f"s{i}", f"s{i + 1}", 1.0) for i in range(5)]
    graph = TaskGraph(chain, start="s0", goal="s5")

    async def one_task() -> None:
        caller = ModelCaller(Tracer(), Ledger(Budget(usd=1.0)), connector=pooled)
        in_calls = 0.0

        async def node(ctx: NodeContext) -> str:
            nonlocal in_calls
            started = time.perf_counter()
            async with gate:
                await caller.call(model, request, step=0)
            took = time.perf_counter() - started
            calls.append(took)
            in_calls += took
            return "ok"

        runner = GraphRunner(graph, {f"s{i}": node for i in range(1, 6)})
        started = time.perf_counter()
        result = await runner.arun("task")
        wall = time.perf_counter() - started
        steps.append(wall / 5)
        overheads.append((wall - in_calls) / 5)  # the step's time outside the model call
        if result.status != "completed":
            raise RuntimeError(result.status)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one_task() for _ in range(tasks)), return_exceptions=True)
    wall = time.perf_counter() - started
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    for ep in shared.values():
        await ep.aclose()
    failed = sum(isinstance(o, BaseException) for o in outcomes)
    steps.sort()
    overheads.sort()
    return {
        "submitted": tasks, "completed": tasks - failed, "failed": failed,
        "steps_per_s": 5 * (tasks - failed) / wall, "wall_s": wall,
        "step_p50_ms": steps[len(steps) // 2] * 1e3 if steps else 0.0,
        "step_p99_ms": steps[int(len(steps) * 0.99)] * 1e3 if steps else 0.0,
        "call_p50_ms": statistics.median(calls) * 1e3 if calls else 0.0,
        "overhead_p50_ms": overheads[len(overheads) // 2] * 1e3 if overheads else 0.0,
        "overhead_p99_ms": overheads[int(len(overheads) * 0.99)] * 1e3 if overheads else 0.0,
        "peak_kib_per_task": peak / 1024 / tasks,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--litellm-python", help="a python with litellm installed")
    args = parser.parse_args()
    proc, url = stub_server.start()
    try:
        lat = asyncio.run(added_latency(url, args.calls))
        added = lat["agentroute"] - lat["bare"]
        print(f"bare openai client: median {lat['bare'] * 1e3:.3f} ms per call")
        print(f"agentroute ModelCaller: median {lat['agentroute'] * 1e3:.3f} ms, "
              f"added {added * 1e3:.3f} ms")  # fmt: skip
        if args.litellm_python:
            env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
            out = subprocess.run([args.litellm_python, "-c", PEER, url, str(args.calls)],
                                 capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
            peer = json.loads(out.stdout.strip().splitlines()[-1])
            peer_added = peer["litellm"] - peer["bare"]
            print(f"LiteLLM Router {peer['version']}: median {peer['litellm'] * 1e3:.3f} ms, "
                  f"added {peer_added * 1e3:.3f} ms over its own bare client "
                  f"({peer['bare'] * 1e3:.3f} ms); agentroute adds "
                  f"{added / peer_added:.2f}x LiteLLM's")  # fmt: skip
        con = asyncio.run(concurrency(url, args.tasks))
        print(json.dumps({k: round(v, 3) for k, v in con.items()}))
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
