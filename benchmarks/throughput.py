"""One-call tasks at 1, 100 and 1,000 in flight: the bare client, each agentroute layer, and
LiteLLM, against one fast stub server (`stub_server.py`, its own process), in one run.

Each row and level runs in a fresh process: ``--tasks`` one-call tasks kept ``level`` in
flight (``level`` coroutines, each calling in turn), after a warm-up. Reported per row:
calls/s, the client process's CPU per call (user + system, `resource.getrusage`, over the
timed part only), and new TCP connections per 100 calls (counted by the stub). Rows:

- ``bare``: `openai.AsyncOpenAI`, defaults;
- ``endpoint``: agentroute's `OpenAICompatibleEndpoint.complete` (translation, response cap);
- ``caller``: `ModelCaller.call` (budget reserve and settle, retry layer, trace events);
- ``pool``: the same on a four-replica pool (``dualmap``; four paths of the one stub): a
  replica pick and its trace event per call (not in the default rows);
- ``pipeline``: a one-agent `Pipeline.arun` (routing, the graph, run bookkeeping, the trace);
- ``litellm``: LiteLLM's `Router.acompletion`, in its own virtualenv (``--litellm-python``).

    .venv/bin/python benchmarks/throughput.py [--tasks 4000] [--levels 1,100,1000]
        [--rows bare,endpoint,caller,pipeline] [--litellm-python /path/to/python] [--repeat 2]
        [--code /path/to/another/checkout]
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
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import stub_server  # noqa: E402

MESSAGES = [{"role": "user", "content": "hello"}]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def load(
    call: Callable[[], Awaitable[object]], tasks: int, level: int, sync: bool = False
) -> dict[str, float]:
    """``tasks`` calls, ``level`` at a time; wall and CPU of the timed part. ``sync``: after
    the warm-up, say "ready" and wait for a line on stdin before the timed part."""
    for _ in range(min(tasks // 10, 200)):
        await call()
    if sync:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)

    async def worker(n: int) -> None:
        for _ in range(n):
            await call()

    share, extra = divmod(tasks, level)
    started_wall, started_cpu = time.perf_counter(), cpu_s()
    await asyncio.gather(*(worker(share + (i < extra)) for i in range(level)))
    wall, cpu = time.perf_counter() - started_wall, cpu_s() - started_cpu
    return {"calls_s": tasks / wall, "cpu_ms": 1000 * cpu / tasks}


def make_call(
    row: str, url: str
) -> tuple[Callable[[], Awaitable[object]], Callable[[], Awaitable[None]]]:
    """The row's one call, and how to close what it opened."""
    if row == "bare":
        import openai

        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        return (
            lambda: client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=16)
        ), client.close  # type: ignore[arg-type]
    from agentroute import Agent, Model, Pipeline
    from agentroute.budget import Budget, Ledger
    from agentroute.engine.calls import ModelCaller
    from agentroute.models import connect
    from agentroute.trace import Tracer
    from agentroute.types import Message, ModelRequest

    model = Model.openai_compatible(url, "m", tier="small")
    request = ModelRequest(messages=(Message.user("hello"),), max_tokens=16)
    if row == "endpoint":
        endpoint = connect(model)
        return (lambda: endpoint.complete(request, timeout_s=60)), endpoint.aclose
    if row == "caller":
        caller = ModelCaller(Tracer(), Ledger(Budget(usd=1e12)))
        return (lambda: caller.call(model, request, step=0)), caller.aclose
    if row == "pool":
        root = url.removesuffix("/v1")
        pool = Model.openai_compatible([f"{root}/r{i}/v1" for i in range(4)], "m", tier="small")
        caller = ModelCaller(Tracer(), Ledger(Budget(usd=1e12)))
        return (lambda: caller.call(pool, request, step=0)), caller.aclose
    if row == "pipeline":
        pipeline = Pipeline([Agent("a", "answers", models=[model], max_tokens=16)], trace_dir=None)
        return (lambda: pipeline.arun("hello")), pipeline.aclose
    raise SystemExit(f"unknown row {row!r}")


LITELLM = """
import asyncio, json, os, sys
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
sys.path.insert(0, sys.argv[4])
from throughput import load
from litellm import Router
url, tasks, level = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    router = Router(model_list=[{"model_name": "m", "litellm_params": {
        "model": "openai/m", "api_base": url, "api_key": "x"}}], num_retries=0)
    print(json.dumps(await load(lambda: router.acompletion(
        model="m", messages=[{"role": "user", "content": "hello"}], max_tokens=16),
        tasks, level)))
asyncio.run(main())
"""


def worker_main(row: str, url: str, tasks: int, level: int, sync: bool) -> None:
    async def go() -> dict[str, float]:
        call, close = make_call(row, url)
        try:
            return await load(call, tasks, level, sync)
        finally:
            await close()

    print(json.dumps(asyncio.run(go())))


def measure(
    row: str, url: str, tasks: int, level: int, litellm: str | None, code: Path
) -> dict[str, float]:
    before = stub_server.connections(url)
    if row == "litellm":
        assert litellm is not None
        cmd = [litellm, "-c", LITELLM, url, str(tasks), str(level), str(HERE)]
    else:
        cmd = [sys.executable, __file__, "--worker", row, url, str(tasks), str(level)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(code)})  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{row} at {level}: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    warm = min(tasks // 10, 200)
    opened = stub_server.connections(url) - before - 1  # less this check's own connection
    result["conns_per_100"] = 100 * opened / (tasks + warm)
    return dict(result)


def scale_out(url: str, tasks: int, level: int, processes: int, code: Path) -> float:
    """The pipeline row in ``processes`` worker processes: each warms up, then all start
    together on a signal, each with its share of the tasks and of the in-flight level.
    Total calls/s = all tasks / the slowest worker's timed wall."""
    cmd = [sys.executable, __file__, "--worker", "pipeline", url, str(tasks // processes),
           str(max(1, level // processes)), "--sync"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(code)}
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=env) for _ in range(processes)]  # fmt: skip
    for proc in procs:  # each says "ready" once warmed up
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    walls = []
    for proc in procs:
        out, _ = proc.communicate()
        r = json.loads(out.strip().splitlines()[-1])
        walls.append((tasks // processes) / r["calls_s"])
    return (tasks // processes) * processes / max(walls)


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        worker_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                    "--sync" in sys.argv)  # fmt: skip
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--levels", default="1,100,1000")
    parser.add_argument("--rows", default="bare,endpoint,caller,pipeline")
    parser.add_argument("--litellm-python", default=None)
    parser.add_argument("--repeat", type=int, default=2, help="rounds, rows alternating")
    parser.add_argument(
        "--processes",
        default="",
        help="also the pipeline row at the top level in 1,2,... processes",
    )
    parser.add_argument(
        "--code",
        type=Path,
        default=HERE.parent,
        help="the agentroute checkout the rows import (an older one, for A/B)",
    )
    args = parser.parse_args()
    rows = args.rows.split(",") + (["litellm"] if args.litellm_python else [])
    levels = [int(x) for x in args.levels.split(",")]
    proc, url = stub_server.start()
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        for _ in range(args.repeat):
            for level in levels:
                for row in rows:
                    r = measure(row, url, args.tasks, level, args.litellm_python, args.code)
                    results.setdefault((row, level), []).append(r)
                    print(f"  {row:9} {level:5}: {r['calls_s']:7.0f} calls/s  "
                          f"{r['cpu_ms']:.2f} ms CPU/call  {r['conns_per_100']:.1f} conns/100",
                          file=sys.stderr)  # fmt: skip
        scaled = {int(p): scale_out(url, args.tasks, levels[-1], int(p), args.code)
                  for p in args.processes.split(",") if p}  # fmt: skip
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    print(f"# {args.tasks} one-call tasks per cell, best of {args.repeat} rounds (median CPU), "
          f"{time.strftime('%Y-%m-%d')}")  # fmt: skip
    print("| row | " + " | ".join(f"{lv} in flight: calls/s, CPU ms/call, conns/100"
                                   for lv in levels) + " |")  # fmt: skip
    print("|---|" + "---|" * len(levels))
    for row in rows:
        cells = []
        for level in levels:
            got = results[(row, level)]
            best = max(r["calls_s"] for r in got)
            cpu = statistics.median(r["cpu_ms"] for r in got)
            conns = statistics.median(r["conns_per_100"] for r in got)
            cells.append(f"{best:.0f}, {cpu:.2f}, {conns:.1f}")
        print(f"| {row} | " + " | ".join(cells) + " |")
    if scaled:
        print(
            f"\npipeline row, {args.tasks} tasks at {levels[-1]} in flight, split over processes:"
        )
        print("| processes | calls/s | per process |\n|---|---|---|")
        for n, rate in scaled.items():
            print(f"| {n} | {rate:.0f} | {rate / n:.0f} |")


if __name__ == "__main__":
    main()
