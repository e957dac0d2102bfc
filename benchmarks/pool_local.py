"""Model pools on real replicas: four llama.cpp servers of the embedded small model, each
with its prompt cache on, serving conversations that share system prompts in skewed
proportions; round-robin, least-loaded, prefix-hash and the dual mapping, in one run; then
the dual mapping again with one replica killed mid-run.

Each phase starts four fresh servers (empty caches; one thread each, as the machine has two
cores), then ``--users`` users hold conversations back to back through one `Pipeline` whose
model is the pool: the same conversations, in the same order, for every policy. A
conversation is a tenant's system prompt (six tenants, weighted 40/20/15/10/10/5 %) and
``--turns`` questions, each asked with the turns before it. Reported per policy: time to
first token (from ``Pipeline.stream`` to the first piece of text, as a user sees it) p50 and
p95, requests per second, the share each replica served, and how often a request went to a
replica that had already served its tenant (a likely cache hit). A request's prompt cache
on llama.cpp (``--cache``): the longest cached prefix is loaded instead of computed again;
``--cache_size`` bounds how many states a replica keeps.

Before the phases, one idle server is timed: prefill of a tenant prompt with no cache, the
same prefix cached, and decode per token; they go to ``benchmarks/data/pool_service_times.json``
for ``benchmarks/pool_sim.py``.

    flock /tmp/agentroute-heavy.lock .venv/bin/python benchmarks/pool_local.py \
        [--conversations 12] [--turns 3] [--users 6] [--policies ...] [--no-kill]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, RetryPolicy
from agentroute.events import ModelCallEvent, ReplicaPick
from agentroute.health import CircuitBreakerMonitor
from agentroute.models import Balance
from agentroute.models.local.server import LocalServer
from agentroute.types import Message, TextDelta

HERE = Path(__file__).resolve().parent
TENANTS = ("billing", "shipping", "returns", "warranty", "loyalty", "wholesale")
WEIGHTS = (0.40, 0.20, 0.15, 0.10, 0.10, 0.05)
QUESTIONS = (
    "My order has not arrived yet.", "Can I change the delivery address?",
    "I was charged twice.", "How long does a refund take?", "The item arrived broken.",
    "Do you ship abroad?", "Can I pay by invoice?", "What is your return window?",
    "My discount code does not work.", "Can I cancel my order?",
)  # fmt: skip
WHY = {"kind", "chosen", "rule", "avoided", "health", "replica", "ok", "error_type", "error"}
SERVER_OPTIONS = ("--cache", "true", "--n_batch", "64", "--interrupt_requests", "false")
"""Prompt cache on; small batches (a cached state copies n_batch rows of logits); a request
that arrives while another streams waits instead of cutting it off (llama-cpp-python
interrupts the running stream by default)."""
RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.05, max_backoff_s=0.5,
                    attempt_timeout_s=180.0, deadline_s=600.0)  # fmt: skip


def tenant_prompt(tenant: str) -> str:
    """About 330 tokens of a tenant's instructions: the prefix its conversations share."""
    rules = " ".join(
        f"Rule {i}: when a customer asks about {tenant} topic {i}, answer in one short "
        f"sentence, politely, citing policy {tenant.upper()}-{i}."
        for i in range(14)
    )
    return f"You are the {tenant} desk of the Northwind store. {rules}"


@dataclass(frozen=True)
class Conversation:
    tenant: str
    questions: tuple[str, ...]


def workload(conversations: int, turns: int, seed: int = 7) -> list[Conversation]:
    """``conversations`` conversations, tenants in the stated proportions (largest
    remainder), in a seeded random order."""
    rng = random.Random(seed)
    raw = [w * conversations for w in WEIGHTS]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])[
        : conversations - sum(counts)
    ]:
        counts[i] += 1
    tenants = [t for t, c in zip(TENANTS, counts, strict=True) for _ in range(c)]
    rng.shuffle(tenants)
    return [Conversation(t, tuple(rng.sample(QUESTIONS, turns))) for t in tenants]


# -- servers ----------------------------------------------------------------------------------
def start(n: int, cache_bytes: int) -> list[LocalServer]:
    def one(i: int) -> LocalServer:
        return LocalServer(
            "small", n_threads=1, n_ctx=1024, logits_all=False, name=f"pool-{i}",
            options=(*SERVER_OPTIONS, "--cache_size", str(cache_bytes)),
        ).start()  # fmt: skip

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def stop(servers: list[LocalServer]) -> None:
    for s in servers:
        s.stop()


def kill(server: LocalServer) -> None:
    """SIGKILL, as a crash: no goodbye to open connections."""
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)


def stream_ttft(url: str, system: str, question: str, max_tokens: int) -> tuple[float, float]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    body = json.dumps({"model": "small", "max_tokens": max_tokens, "stream": True,
                       "temperature": 0, "messages": messages})  # fmt: skip
    req = urllib.request.Request(url + "/chat/completions", body.encode(),
                                 {"Content-Type": "application/json"})  # fmt: skip
    started, first = time.perf_counter(), None
    with urllib.request.urlopen(req, timeout=300) as resp:
        for line in resp:
            if first is None and line.startswith(b"data:") and b'"content"' in line:
                first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started


def calibrate(url: str) -> dict[str, Any]:
    """One idle replica's service times: a tenant prompt's prefill with no cache, with the
    prefix cached, and decode per token (medians of three)."""
    miss, hit, decode = [], [], []
    for i in range(3):
        system = tenant_prompt(f"calibration{i}")
        miss.append(stream_ttft(url, system, "Hello.", 1)[0])
        hit.append(stream_ttft(url, system, "Good morning.", 1)[0])
        first, total = stream_ttft(url, system, "Tell me about your store in detail.", 33)
        decode.append((total - first) / 32)
    return {
        "model": "small (Qwen2.5-Coder-0.5B-Instruct Q4_K_M), llama-cpp-python 0.3.36",
        "threads": 1, "prompt_chars": len(tenant_prompt("calibration0")),
        "miss_ttft_s": statistics.median(miss), "hit_ttft_s": statistics.median(hit),
        "decode_s_per_token": statistics.median(decode),
        "measured": time.strftime("%Y-%m-%d"),
    }  # fmt: skip


# -- one phase ----------------------------------------------------------------------------------
@dataclass
class Phase:
    policy: str
    ttft: list[float] = field(default_factory=list)
    served: Counter[str] = field(default_factory=Counter)
    warm_hits: int = 0
    requests: int = 0
    failed_attempts: int = 0
    lost: int = 0
    wall_s: float = 0.0
    picks: list[ReplicaPick] = field(default_factory=list)
    calls: list[ModelCallEvent] = field(default_factory=list)
    killed: str | None = None
    killed_at: float | None = None
    names: tuple[str, ...] = ()


async def ask(pipeline: Pipeline, history: list[Message], question: str) -> tuple[float, Any]:
    started = time.perf_counter()
    first = None
    stream = pipeline.stream(question, history=history)
    async for item in stream:
        if first is None and isinstance(item, TextDelta) and item.text:
            first = time.perf_counter() - started
    result = await stream.result()
    return (first if first is not None else time.perf_counter() - started), result


async def run_phase(
    policy: str, servers: list[LocalServer], convs: list[Conversation], users: int,
    kill_after: int | None = None, max_tokens: int = 8,
) -> Phase:  # fmt: skip
    model = Model.openai_compatible(
        [s.url for s in servers], "small", tier="small", retry=RETRY,
        balance=Balance(policy=policy, ttft_slo_s=2.0),  # type: ignore[arg-type]
    )  # fmt: skip
    breaker = CircuitBreakerMonitor(failure_threshold=2, cooldown_s=600)
    agent = Agent("desk", "answers customers", models=[model], max_tokens=max_tokens,
                  temperature=0.0)  # fmt: skip
    pipeline = Pipeline([agent], policy=FixedTierPolicy("small"), monitors=[breaker])
    out = Phase(policy, names=model.replica_names)
    seen: dict[str, set[str]] = {}
    queue: asyncio.Queue[Conversation] = asyncio.Queue()
    for c in convs:
        queue.put_nowait(c)
    started = time.perf_counter()

    async def user() -> None:
        while not queue.empty():
            conv = queue.get_nowait()
            history = [Message.system(tenant_prompt(conv.tenant))]
            for q in conv.questions:
                try:
                    ttft, result = await ask(pipeline, history, q)
                except Exception as exc:  # a lost request: reported, never expected
                    print(f"  lost: {type(exc).__name__}: {exc}", file=sys.stderr)
                    trace = getattr(exc, "trace", None)
                    for e in trace or ():
                        if isinstance(e, ReplicaPick | ModelCallEvent):
                            print(f"    {e.model_dump_json(include=WHY)}", file=sys.stderr)
                    out.lost += 1
                    continue
                calls = result.trace.events(ModelCallEvent)
                out.calls += calls
                out.picks += result.trace.events(ReplicaPick)
                ok = [c for c in calls if c.ok]
                replica = str(ok[-1].replica) if ok else "?"
                out.failed_attempts += sum(1 for c in calls if not c.ok)
                out.warm_hits += conv.tenant in seen.setdefault(replica, set())
                seen[replica].add(conv.tenant)
                out.served[replica] += 1
                out.ttft.append(ttft)
                out.requests += 1
                history += [Message.user(q), Message.assistant(result.output or "")]
                if kill_after is not None and out.requests == kill_after and out.killed is None:
                    victim = out.served.most_common(1)[0][0]
                    out.killed, out.killed_at = victim, time.perf_counter() - started
                    names = model.replica_names
                    kill(servers[names.index(victim)])
                    print(f"  killed replica {victim} after {out.requests} requests")

    await asyncio.gather(*(user() for _ in range(users)))
    out.wall_s = time.perf_counter() - started
    await pipeline.aclose()
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))] if xs else float("nan")


def row(p: Phase) -> str:
    share = "/".join(f"{100 * n / p.requests:.0f}" for _, n in sorted(p.served.items()))
    return (f"| {p.policy} | {pct(p.ttft, 0.5):.2f} | {pct(p.ttft, 0.95):.2f} | "
            f"{p.requests / p.wall_s:.2f} | {100 * p.warm_hits / max(1, p.requests):.0f}% | "
            f"{share} | {p.requests} | {p.wall_s:.0f} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=12)
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--users", type=int, default=6)
    ap.add_argument("--replicas", type=int, default=4)
    ap.add_argument("--cache-mb", type=int, default=200)
    ap.add_argument("--policies", default="round_robin,least_loaded,prefix_hash,dualmap")
    ap.add_argument("--no-kill", action="store_true")
    ap.add_argument("--out", default=str(HERE / "data" / "pool_service_times.json"))
    args = ap.parse_args()
    convs = workload(args.conversations, args.turns)
    cache = args.cache_mb * 1_000_000
    mix = Counter(c.tenant for c in convs).most_common()
    print(f"{args.replicas} replicas, 1 thread each; {len(convs)} conversations x "
          f"{args.turns} turns; tenants {mix}")  # fmt: skip
    begun = time.perf_counter()
    servers = start(1, cache)
    try:
        times = calibrate(servers[0].url)
    finally:
        stop(servers)
    Path(args.out).write_text(json.dumps(times, indent=2) + "\n")
    print(f"service times (idle replica): {json.dumps(times)}")
    phases = []
    for policy in filter(None, args.policies.split(",")):
        servers = start(args.replicas, cache)
        try:
            phases.append(asyncio.run(run_phase(policy, servers, convs, args.users)))
        finally:
            stop(servers)
        print(row(phases[-1]), flush=True)
    print(
        "\n| policy | TTFT p50 s | TTFT p95 s | requests/s | same-tenant replica | "
        "share per replica % | requests | wall s |\n|---|---|---|---|---|---|---|---|"
    )
    for p in phases:
        print(row(p))
    if not args.no_kill:
        servers = start(args.replicas, cache)
        try:
            third = len(convs) * args.turns // 3
            k = asyncio.run(run_phase("dualmap", servers, convs, args.users, kill_after=third))
        finally:
            stop(servers)
        dead = k.names.index(str(k.killed))
        on_it = [c for c in k.calls if c.replica == k.killed]
        picks = sorted(k.picks, key=lambda x: x.ts)
        down = [x.ts for x in picks if x.health[dead] == float("inf")]
        after_down = [x for x in picks if down and x.ts >= down[0] and x.chosen == k.killed]
        failed = sum(1 for c in on_it if not c.ok)
        print(
            f"\nkill: replica {k.killed} SIGKILLed after {third} requests "
            f"({k.killed_at:.0f} s): {k.requests} of {len(convs) * args.turns} requests "
            f"answered, {k.lost} lost; {failed} attempts failed on it (each retried on "
            f"another replica); the breaker marked it down "
            f"{'at once' if down else 'never'}, picks of it after that: {len(after_down)}"
        )
        print(row(k))
    print(f"\ntotal wall {time.perf_counter() - begun:.0f} s")


if __name__ == "__main__":
    main()
