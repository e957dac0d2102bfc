"""A budgeted multi-step task with small/large switching: each step of a short writing job
picks the small or the large model (a one-token entropy probe decides), and the whole task
stays inside one hard budget that is never exceeded.

Every step runs with what is left of the task's budget. When the large model's worst case no
longer fits, the step is downshifted to the small model; when not even the small one fits,
the task stops with a typed `BudgetExceededError` instead of overspending. The table shows,
per step, the model, why it was chosen, the cost and what was left.

    python cookbook/budget_steps.py
    python cookbook/budget_steps.py --budget-usd 0.0002     # watch the downshifts and the stop
"""

from __future__ import annotations

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute import Agent, BudgetExceededError, EntropyPolicy, Model, Pipeline, Result

STEPS = [
    ("outline", "List three short points a note about {topic} should make."),
    ("draft", "Write a four-sentence note about {topic} that makes these points:\n{previous}"),
    ("title", "Give this note a title of at most six words:\n{previous}"),
]


def step_pipeline(small: Model, large: Model, budget_usd: float) -> Pipeline:
    writer = Agent("writer", "Writes short notes", models=[small, large], max_tokens=120)
    return Pipeline([writer], policy=EntropyPolicy(threshold=1.5), budget_usd=budget_usd,
                    trace_dir="traces")  # fmt: skip


def main() -> None:
    parser = cookbook_parser(__doc__, task="why backups should be tested", task_help="the topic")
    parser.add_argument("--budget-usd", type=float, default=0.002)
    args = parser.parse_args()
    small, large = small_and_large(args)
    left, previous = args.budget_usd, ""
    done: list[tuple[Pipeline, Result]] = []
    print(f"{'step':<8} {'model':<12} {'cost $':>10} {'left $':>10}  why")
    for name, prompt in STEPS:
        pipeline = step_pipeline(small, large, left)
        try:
            result = pipeline.run(prompt.format(topic=args.task, previous=previous))
        except BudgetExceededError as exc:
            print(f"{name:<8} stopped: {exc}")
            break
        switch = result.trace.of_kind("model_switch")[-1]
        left -= result.cost_usd
        print(f"{name:<8} {result.models[-1]:<12} {result.cost_usd:>10.6f} {left:>10.6f}  "
              f"{switch.reason}", flush=True)  # type: ignore[union-attr]  # fmt: skip
        previous = result.output.strip()
        done.append((pipeline, result))
    spent = args.budget_usd - left
    print(f"spent ${spent:.6f} of ${args.budget_usd:g}; within budget: {spent <= args.budget_usd}")
    print(previous)
    if args.check_replay:
        report_replays([lambda p=p, r=r: p.replay(r.trace) for p, r in done])


if __name__ == "__main__":
    main()
