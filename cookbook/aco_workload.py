"""A mixed math / code / general workload routed by an ant colony: per-task-type pheromone
memory over the agents, intent inference from embeddings, and quality-gated learning.

Three agents (a quick one on the small model, a careful one and a coder on the large one)
serve a stream of tasks. For each task the intent model gives the mix of task types, the
colony fuses the pheromones of those types and picks an agent, and a judge scores the answer
(the right number, Python that compiles, the expected word). Only answers that pass the
quality gate lay pheromone. At the end the pheromone tables show what the colony learned.
Updates are applied between tasks here so that every decision replays exactly; in serving
they run in the background (`PheromoneUpdater.start`).

    python cookbook/aco_workload.py
    python cookbook/aco_workload.py --base-url http://gpu:8000/v1 --small S --large L
"""

from __future__ import annotations

import ast
import copy
import random
import re

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute import Agent, FixedTierPolicy, Pipeline
from agentroute.aco import (
    AgentNode,
    AntOutcome,
    AntRouter,
    Bounds,
    Colony,
    EmbeddingIntent,
    PheromoneMemory,
    PheromoneUpdater,
    min_quality,
)
from agentroute.models.embeddings import embed
from agentroute.routers import final_number

EXAMPLES = {
    "math": ["How many apples are left if I eat 3 of 10?", "What is 15% of 80?"],
    "code": ["Write a Python function that reverses a list", "Fix this Python loop"],
    "general": ["What is the capital of Peru?", "Who wrote Hamlet?"],
}
TASKS = [
    ("math", "A baker makes 12 rolls an hour for 3 hours and sells 20. How many are left?", "16"),
    ("code", "Write a Python function is_even(n) that says whether n is even.", None),
    ("general", "Which planet is the largest in the solar system?", "jupiter"),
    ("math", "Tom has 5 boxes of 4 pens and gives away 7 pens. How many pens does he have?", "13"),
    ("code", "Write a Python function that returns the largest of three numbers.", None),
    ("general", "What is the chemical symbol for gold?", "au"),
    ("math", "A train goes 60 km per hour for 2 hours, then 30 km. How many km in all?", "150"),
    ("code", "Write a Python function that counts the vowels in a string.", None),
    ("general", "Which ocean lies between Africa and Australia?", "indian"),
]  # fmt: skip


def judge(kind: str, output: str, expected: str | None) -> float:
    if kind == "math":
        number = final_number(output)
        return float(number is not None and expected is not None and number == float(expected))
    if kind == "code":
        block = re.search(r"```(?:python)?\n(.*?)```", output, re.S)
        try:
            ast.parse(block.group(1) if block else output)
        except SyntaxError:
            return 0.0
        return 1.0 if "def " in output else 0.5
    return float(expected is not None and expected in output.lower())


def main() -> None:
    parser = cookbook_parser(
        __doc__, task=None, task_help="run this one task instead of the built-in workload"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    small, large = small_and_large(args)
    agents = [
        Agent("quick", "Answers short questions briefly", models=[small], max_tokens=60),
        Agent("careful", "Works through problems step by step, ends with 'Answer: <n>'",
              models=[large], max_tokens=200,
              instructions="Solve step by step. End with 'Answer: <number>' if a number."),
        Agent("coder", "Writes Python code", models=[large], max_tokens=200,
              instructions="Reply with one Python code block and nothing else."),
    ]  # fmt: skip
    memory = PheromoneMemory(list(EXAMPLES), Bounds(0.2, 2.0, 1.0))
    colony = Colony([[AgentNode(a.name) for a in agents]], memory, alpha=2.0, beta=0.0,
                    rng=random.Random(args.seed))  # fmt: skip
    intent = EmbeddingIntent(embed=lambda texts: embed(texts).tolist(), examples=EXAMPLES)
    router = AntRouter(colony, intent.weights)
    pipeline = Pipeline(agents, router=router, router_model=small, budget_usd=0.01,
                        policy=FixedTierPolicy("small"), trace_dir="traces")  # fmt: skip
    updater = PheromoneUpdater(memory, rho=0.1, deposit=0.5, gate=min_quality(0.5))
    tasks = [("general", args.task, None)] if args.task else TASKS
    replays = []
    for kind, task, expected in tasks:
        before = (copy.deepcopy(colony.memory), colony.rng.getstate())
        result = pipeline.run(task)
        quality = judge(kind, result.output, expected)
        assert router.last is not None
        updater.apply(AntOutcome(result.agents, router.last.weights, quality, result.cost_usd))
        mix = max(router.last.weights.items(), key=lambda kv: kv[1])
        print(f"{kind:>7} task (looks like {mix[0]} {mix[1]:.2f}) -> {result.agents[0]:<7} "
              f"quality {quality:.1f}  ${result.cost_usd:.6f}", flush=True)  # fmt: skip
        replays.append((before, result.trace))
    for task_type in EXAMPLES:
        print(memory.text_table(task_type))
    if args.check_replay:

        def replay(state, trace):  # type: ignore[no-untyped-def]
            colony.memory = copy.deepcopy(state[0])
            colony.rng.setstate(state[1])
            return pipeline.replay(trace)

        report_replays([lambda s=s, t=t: replay(s, t) for s, t in replays])


if __name__ == "__main__":
    main()
