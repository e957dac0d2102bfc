"""Multi-round routing (Router-R1) against one-round routing, on two-hop questions, on the
embedded models.

72 questions (``benchmarks/data/multi_hop.jsonl``, written for this benchmark: 1-36 by hand,
37-72 from 36 more facts, the same four calculation templates and a seeded draw of numbers),
each built from one fact a model must know (the legs of a spider, the year the Berlin Wall
fell) and a two-step calculation on it ("multiply it by 37, then subtract 19"); the answer is a
whole number, checked exactly (`final_number` of the output). Rows:

- ``small`` / ``large``: one model answers the whole question (one call).
- ``single``: one-round routing: `MultiRoundRouter` as the pipeline's router (on the large
  model) reads the pool's description and picks the one model that answers the whole question.
- ``multi``: multi-round routing: an agent on the large model with the pool (small, large)
  sends sub-questions round by round and writes the answer (`Agent.pool`, at most
  ``--rounds`` rounds, JSON actions held to a schema; ``--value-margin``: offered only the
  models within that of the best value, `MultiRoundRouter.value_margin`).

Both routing rows describe the pool the same way, as Router-R1 does: price (the embedded
models' notional prices), latency and example performance, both measured first on 16 example
questions apart from the test set (``multi_hop_examples.jsonl``: 8 facts, 8 two-step
calculations); ``score`` is the share of them answered right. Answering models get the same
instruction everywhere (`CONSULT`). Reported per row: accuracy, notional cost per question,
model calls, rounds, format errors, failed runs, where the sub-questions went, latency.

    flock /tmp/agentroute-heavy.lock .venv/bin/python benchmarks/multi_round.py \\
        [--modes small,large,single,multi] [--cost-weight 0.3] [--offset N] [--limit N]
        [--out FILE.jsonl]
        [--pool small,large] [--value-margin 0.2]
    .venv/bin/python benchmarks/multi_round.py --paired MULTI.jsonl LARGE.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from agentroute import Agent, Model, Pipeline
from agentroute.agents import PoolModel
from agentroute.errors import RunError
from agentroute.events import ModelCallEvent, RoundEvent
from agentroute.models import prepare
from agentroute.routers import MultiRoundRouter, final_number
from agentroute.routers.multi_round import CONSULT

DATA = Path(__file__).with_name("data")
ANSWER_TOKENS = 256
CONSULT_TOKENS = MultiRoundRouter().consult_tokens


def alone(model: Model, max_tokens: int = ANSWER_TOKENS) -> Pipeline:
    """One model answering a whole question, with the instruction pool models get."""
    agent = Agent(model.name, "answers", models=[model], instructions=CONSULT,
                  max_tokens=max_tokens)  # fmt: skip
    return Pipeline([agent])


async def measure(model: Model) -> PoolModel:
    """The model as the routers read it: its example performance (facts and calculations
    answered right) and latency, measured on the example questions as a pool model answers."""
    examples = [json.loads(line) for line in (DATA / "multi_hop_examples.jsonl").open()]
    pipeline = alone(model, CONSULT_TOKENS)
    right: Counter[str] = Counter()
    walls = []
    for case in examples:
        result = await pipeline.arun(case["q"])
        right[case["kind"]] += final_number(result.output) == case["a"]
        walls.append(result.wall_s)
    await pipeline.aclose()
    n = {k: sum(c["kind"] == k for c in examples) for k in ("fact", "calculation")}
    said = (f"example questions: facts {right['fact']}/{n['fact']} right, two-step "
            f"calculations {right['calculation']}/{n['calculation']} right")  # fmt: skip
    score = (right["fact"] + right["calculation"]) / len(examples)
    return PoolModel(model, said, latency_s=round(statistics.median(walls), 1), score=score)


def build(
    mode: str,
    cost_weight: float,
    rounds: int,
    described: tuple[PoolModel, ...],
    margin: float | None = None,
) -> Pipeline:
    small, large = Model.local("small"), Model.local("large")
    if mode in ("small", "large"):
        return alone(small if mode == "small" else large)
    if mode == "single":
        agents = [
            Agent(name, p.performance, models=[p.model], instructions=CONSULT,
                  max_tokens=ANSWER_TOKENS)
            for name, p in zip(("small", "large"), described, strict=True)
        ]  # fmt: skip
        members = tuple(
            replace(p.member, name=a.name) for a, p in zip(agents, described, strict=True)
        )
        router = MultiRoundRouter(members=members, cost_weight=cost_weight)
        return Pipeline(agents, router=router, router_model=large)
    solver = Agent(
        "solver", "answers questions that take several steps", models=[large],
        pool=described,
        rounds=MultiRoundRouter(cost_weight=cost_weight, max_rounds=rounds, value_margin=margin),
        max_tokens=192,
    )  # fmt: skip
    return Pipeline([solver])


def facts(result_trace: Any) -> dict[str, Any]:
    """What a run did: its rounds, format errors and where its calls went."""
    rounds = result_trace.events(RoundEvent)
    calls = [c for c in result_trace.events(ModelCallEvent) if c.ok]
    return {
        "rounds": len(rounds),
        "format_errors": sum(r.action == "format_error" for r in rounds),
        "routed": [r.model for r in rounds if r.action == "route"],
        "queries": [r.query for r in rounds if r.action == "route"],
        "calls": [f"{c.purpose}:{c.model}" for c in calls],
    }


async def one(pipeline: Pipeline, case: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    row: dict[str, Any] = {"id": case["id"], "gold": case["a"]}
    try:
        result = await pipeline.arun(case["q"])
    except RunError as exc:
        trace = getattr(exc, "trace", None)
        row |= {"ok": False, "error": type(exc).__name__, "output": None, "cost": 0.0,
                "model_calls": 0, "wall_s": time.perf_counter() - started}  # fmt: skip
        if trace is not None:
            row |= facts(trace) | {"cost": sum(c.cost_usd for c in trace.events(ModelCallEvent))}
            row["model_calls"] = len(trace.events(ModelCallEvent))
        return row
    said = final_number(result.output)
    row |= {"ok": said is not None and said == case["a"], "error": None,
            "output": result.output[-200:], "cost": result.cost_usd,
            "model_calls": result.model_calls, "wall_s": result.wall_s,
            "agents": list(result.agents)}  # fmt: skip
    return row | facts(result.trace)


def table_row(mode: str, rows: list[dict[str, Any]]) -> str:
    n = len(rows)
    wall = sorted(r["wall_s"] for r in rows)
    rounds = [r.get("rounds", 0) for r in rows]
    routed = Counter(m for r in rows for m in r.get("routed", []))
    routed |= Counter(a for r in rows for a in r.get("agents", []) if mode == "single")
    where = ", ".join(f"{k.split(':')[-1]} {v}" for k, v in sorted(routed.items())) or "-"
    return (
        f"| {mode} | {sum(r['ok'] for r in rows)}/{n} ({sum(r['ok'] for r in rows) / n:.0%}) | "
        f"${statistics.mean(r['cost'] for r in rows):.6f} | "
        f"{statistics.mean(r['model_calls'] for r in rows):.2f} | "
        f"{statistics.mean(rounds):.2f} | {sum(r.get('format_errors', 0) for r in rows)} | "
        f"{sum(r['error'] is not None for r in rows)} | {where} | "
        f"{statistics.median(wall):.1f} / {statistics.mean(wall):.1f} |"
    )


def paired(a_path: Path, b_path: Path, resamples: int = 10_000) -> str:
    """Two rows' saved answers (``--out`` files) compared question by question: right in each,
    right in one only, the exact two-sided McNemar p and a paired bootstrap 95% interval of
    the difference in accuracy."""
    a, b = ({r["id"]: r["ok"] for r in map(json.loads, p.open())} for p in (a_path, b_path))
    ids = sorted(a.keys() & b.keys())
    only_a = sum(a[i] and not b[i] for i in ids)
    only_b = sum(b[i] and not a[i] for i in ids)
    n, k = only_a + only_b, min(only_a, only_b)
    p = min(1.0, 2 * sum(math.comb(n, j) for j in range(k + 1)) / 2**n)
    rng = random.Random(0)
    diffs = sorted(
        sum(a[i] - b[i] for i in (rng.choice(ids) for _ in ids)) / len(ids)
        for _ in range(resamples)
    )
    low, high = diffs[int(0.025 * resamples)], diffs[int(0.975 * resamples)]
    return (
        f"{len(ids)} questions: {a_path.name} {sum(a[i] for i in ids)} right, {b_path.name} "
        f"{sum(b[i] for i in ids)}; right only in the first {only_a}, only in the second "
        f"{only_b}; McNemar p = {p:.2f}; difference 95% interval [{low:+.1%}, {high:+.1%}]"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="small,large,single,multi")
    parser.add_argument("--cost-weight", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--offset", type=int, default=0, help="skip the first N questions")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="per-question rows (JSONL)")
    parser.add_argument(
        "--pool",
        default="small,large",
        help="the multi row's pool: small,large or one of them (large: the "
        "rounds only decompose, every sub-question goes to the large model)",
    )
    parser.add_argument(
        "--value-margin",
        type=float,
        default=None,
        help="the multi row offers only pool models within this of the best value",
    )
    parser.add_argument(
        "--paired", nargs=2, type=Path, metavar=("A.jsonl", "B.jsonl"),
        help="compare two --out files question by question (no model runs) and exit",
    )  # fmt: skip
    args = parser.parse_args()
    if args.paired:
        print(paired(*args.paired))
        return
    if args.pool != "small,large" and "single" in args.modes.split(","):
        parser.error("the single row routes between both models: --pool small,large")
    every = [json.loads(line) for line in (DATA / "multi_hop.jsonl").open()]
    cases = every[args.offset :][: args.limit]
    small, large = Model.local("small"), Model.local("large")
    await prepare([small, large])  # servers started before any clock runs
    tiers = {"small": small, "large": large}
    described = tuple([await measure(tiers[t]) for t in args.pool.split(",")])
    for p in described:
        print(f"pool: {p.model.label}: {p.performance}; {p.latency_s} s; score {p.score:.2f}")
    lines = []
    for mode in args.modes.split(","):
        pipeline = build(mode, args.cost_weight, args.rounds, described, args.value_margin)
        rows = []
        for case in cases:
            row = await one(pipeline, case)
            rows.append(row)
            print(json.dumps({"mode": mode, **row}), flush=True)
            if args.out is not None:
                with args.out.open("a") as f:
                    said = {"mode": mode, "cost_weight": args.cost_weight,
                            "value_margin": args.value_margin, **row}  # fmt: skip
                    f.write(json.dumps(said) + "\n")
        await pipeline.aclose()
        lines.append(table_row(mode, rows))
    print(f"\ncost weight {args.cost_weight:g}, value margin {args.value_margin}, at most "
          f"{args.rounds} rounds, {len(cases)} questions\n")  # fmt: skip
    print("| row | right | cost / question | model calls | rounds | format errors | "
          "failed runs | routed to | latency p50 / mean (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
