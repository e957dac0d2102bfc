"""Small/large switching on the embedded models under a strict per-task budget.

32 two-step arithmetic word problems (``benchmarks/data/word_problems.jsonl``, written for
this project, answers checked by hand), split by the SHA-256 of the question: even = train,
odd = test. One agent solves each problem with the local small (0.5B) or large (1.5B) model;
a run succeeds when its final number is the right answer. Each task's budget is
``--budget-usd`` at the notional local prices: enough for the worst case of one large answer
(about $0.00021 reserved) after a one-token probe, but not after three sampled small answers,
so budget pressure is part of the test.

Policies: the boundaries (always small, always large), GlimpRouter's entropy rule, a
threshold policy on sigma (three sampled small answers), and `LearnedPolicy` fitted on the
train half's boundary runs (probe entropy and probability; hard = only large succeeds).
Reported on the test half: success rate, mean and max spend / budget, how often the large
model answered, seconds per task.

    .venv/bin/python benchmarks/local_switching.py [--budget-usd 0.00023]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from agentroute import Agent, BudgetExceededError, FixedTierPolicy, Model, Pipeline
from agentroute.budget import EntropyPolicy, SwitchPolicy, ThresholdPolicy
from agentroute.budget.learned import LearnedPolicy, boundary_label, probe_signals
from agentroute.routers import final_number
from agentroute.runtime import Result

DATA = Path(__file__).with_name("data") / "word_problems.jsonl"
INSTRUCTIONS = (
    "Solve the problem. Work it out step by step, one calculation per line, then finish with "
    "a line of the form 'Answer: <number>'."
)


@dataclass(frozen=True)
class Problem:
    q: str
    a: float


@dataclass
class Run:
    ok: bool
    spent: float
    large: bool
    seconds: float
    result: Result | None


def load() -> tuple[list[Problem], list[Problem]]:
    train: list[Problem] = []
    test: list[Problem] = []
    for line in DATA.read_text().splitlines():
        p = Problem(**json.loads(line))
        (test if int(hashlib.sha256(p.q.encode()).hexdigest(), 16) % 2 else train).append(p)
    return train, test


def solver(policy: SwitchPolicy, budget: float) -> Pipeline:
    models = [Model.local("small"), Model.local("large")]
    agent = Agent("solver", "solves word problems", INSTRUCTIONS, models=models, max_tokens=256)
    return Pipeline([agent], policy=policy, budget_usd=budget, trace_dir=None)


def solve(pipeline: Pipeline, problem: Problem) -> Run:
    t0 = time.perf_counter()
    try:
        result = pipeline.run(problem.q)
    except BudgetExceededError as e:
        return Run(False, e.spent, False, time.perf_counter() - t0, None)
    answer = final_number(result.output)
    ok = answer is not None and abs(answer - problem.a) < 1e-6
    large = any(m.endswith("large") for m in result.models)
    return Run(ok, result.cost_usd, large, time.perf_counter() - t0, result)


def row(name: str, runs: list[Run], budget: float) -> str:
    ok = sum(r.ok for r in runs) / len(runs)
    spend = [r.spent / budget for r in runs]
    return (
        f"| {name} | {ok:.0%} | {statistics.mean(spend):.2f} | {max(spend):.2f} "
        f"| {sum(r.large for r in runs) / len(runs):.0%} "
        f"| {statistics.mean(r.seconds for r in runs):.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget-usd", type=float, default=0.00023)
    parser.add_argument("--only", default="", help="comma-separated words: run matching policies")
    args = parser.parse_args()
    budget = args.budget_usd
    train, test = load()
    print(f"{len(train)} train problems, {len(test)} test problems, budget ${budget} per task")

    probe_small = solver(FixedTierPolicy("small", probe_top_logprobs=10), budget)
    always_large = FixedTierPolicy("large")
    large_run = solver(always_large, budget)
    signals, labels = [], []
    for p in train:
        small, large = solve(probe_small, p), solve(large_run, p)
        assert small.result is not None
        signals.append(probe_signals(small.result.trace))
        labels.append(boundary_label(small.ok, large.ok))
    print("train labels:", {k: labels.count(k) for k in ("easy", "hard", "intractable")})
    entropies = sorted(s["first_token_entropy"] for s in signals)
    learned = (
        LearnedPolicy.fit(signals, labels, features=["first_token_entropy", "first_token_prob"])
        if "hard" in labels and len(set(labels)) > 1
        else None
    )
    policies: list[tuple[str, SwitchPolicy]] = [
        ("always small", FixedTierPolicy("small")),
        ("always large", always_large),
        ("entropy >= 1.0 (GlimpRouter)", EntropyPolicy(threshold=1.0)),
        (
            f"entropy >= train median {statistics.median(entropies):.2f}",
            EntropyPolicy(threshold=statistics.median(entropies)),
        ),
        ("threshold on sigma >= 0.5", ThresholdPolicy(entropy_at=None, sigma_at=0.5)),
    ]
    if learned is not None:
        base_rate = labels.count("hard") / len(labels)
        policies.append(("learned (logistic on probe), P(hard) >= 0.5", learned))
        policies.append(
            (
                f"learned, P(hard) >= train share of hard tasks {base_rate:.2f}",
                dataclasses.replace(learned, threshold=base_rate),
            )
        )
    else:
        print("no 'hard' task in train: the learned policy cannot be fitted")
    print("\n| policy | success | mean spend / budget | max spend / budget | large answered "
          "| s per task |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, policy in policies:
        if args.only and not any(word in name for word in args.only.split(",")):
            continue
        pipeline = solver(policy, budget)
        runs = [solve(pipeline, p) for p in test]
        print(row(name, runs, budget), flush=True)


if __name__ == "__main__":
    main()
