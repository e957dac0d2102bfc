"""The main job (support triage) on the embedded models: routing accuracy, wall time, cost.

Runs labelled customer messages through `agentroute.demo.support_pipeline` twice: with the
reasoning router on the large model (the demo's choice) and on the small model. Prints one
table. Timings are medians on this machine; the models run on CPU.

    .venv/bin/python benchmarks/main_job.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from agentroute import Model
from agentroute.demo import support_pipeline
from agentroute.events import ModelCallEvent

LABELLED = [
    ("I was charged twice for order 1234 and I want my money back.", "billing"),
    ("My parcel has not arrived after two weeks, where is it?", "shipping"),
    ("The app crashes every time I open settings.", "technical"),
    ("Can you send me a copy of last month's invoice?", "billing"),
    ("I want to return the shoes I bought, they are too small.", "shipping"),
    ("I forgot my password and the reset email never comes.", "technical"),
    ("My card was declined but the money left my account.", "billing"),
    ("The tracking number you gave me does not work.", "shipping"),
    ("I get error 503 when I try to log in.", "technical"),
    ("Why is there a subscription fee on my statement?", "billing"),
    ("The courier left my package at the wrong address.", "shipping"),
    ("The website keeps logging me out after a minute.", "technical"),
]


def run(router_tier: str, repeat: int) -> dict[str, float]:
    small, large = Model.local("small"), Model.local("large")
    pipeline = support_pipeline(small, large, budget_usd=0.002, trace_dir=None)
    pipeline.router_model = large if router_tier == "large" else small
    correct = 0
    walls: list[float] = []
    costs: list[float] = []
    by_large = 0
    for _ in range(repeat):
        for text, label in LABELLED:
            started = time.perf_counter()
            result = pipeline.run(text)
            walls.append(time.perf_counter() - started)
            costs.append(result.cost_usd)
            correct += result.agents == (label,)
            answers = [
                e for e in result.trace.events(ModelCallEvent) if e.ok and e.purpose == "answer"
            ]
            by_large += answers[-1].tier == "large"
    n = len(LABELLED) * repeat
    walls.sort()
    return {
        "route_acc": correct / n,
        "wall_p50": statistics.median(walls),
        "wall_p90": walls[int(0.9 * (n - 1))],
        "large_share": by_large / n,
        "cost_mean": statistics.mean(costs),
        "cost_max": max(costs),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    # warm the servers so start-up is not counted in per-task wall time
    support_pipeline(trace_dir=None).run("warm up")
    print(
        f"# main job, {len(LABELLED) * args.repeat} tasks per row, {platform.machine()}, "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    print(
        "| router model | route accuracy | wall p50 | wall p90 | answered by large | "
        "mean cost (notional) | max cost | budget |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for tier in ("large", "small"):
        r = run(tier, args.repeat)
        print(
            f"| {tier} | {r['route_acc']:.0%} | {r['wall_p50']:.1f}s | {r['wall_p90']:.1f}s | "
            f"{r['large_share']:.0%} | ${r['cost_mean']:.6f} | ${r['cost_max']:.6f} | $0.002 |"
        )


if __name__ == "__main__":
    main()
