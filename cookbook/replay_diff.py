"""Replaying and diffing a trace: run a support triage once, replay it from its trace with no
model call, then ask "what if the budget had been smaller?" and see the first decision that
changes, side by side.

A trace holds every decision and every model response, so a replay runs the same code on the
recorded answers and checks each decision against the recording. A what-if replay changes
one setting (here the budget) and shows where the run would have gone another way. The same
works from the shell: ``agentroute replay traces/run-<id>.jsonl [--budget 0.0001]``.

    python cookbook/replay_diff.py
"""

from __future__ import annotations

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute.budget import Budget
from agentroute.demo import DEFAULT_TASK, support_pipeline
from agentroute.trace import Trace
from agentroute.trace.diff import side_by_side


def main() -> None:
    parser = cookbook_parser(__doc__, task=DEFAULT_TASK)
    parser.add_argument("--what-if-budget", type=float, default=0.00003)
    args = parser.parse_args()
    small, large = small_and_large(args)
    pipeline = support_pipeline(small, large, budget_usd=0.002)
    result = pipeline.run(args.task)
    print(
        f"ran: {'+'.join(result.agents)} on {', '.join(result.models)}, "
        f"{result.model_calls} calls, ${result.cost_usd:.6f}; trace {result.trace_path}"
    )

    recorded = Trace.load(result.trace_path) if result.trace_path else result.trace
    same = pipeline.replay(recorded)
    print(f"replayed from the file: {same.describe()}")

    pipeline.budget = Budget(usd=args.what_if_budget)
    what_if = pipeline.replay(recorded)
    print(f"what if the budget were ${args.what_if_budget:g}: "
          f"{'same decisions' if what_if.identical else 'the run changes'}")  # fmt: skip
    if not what_if.identical:
        print(side_by_side(recorded, what_if.replayed))
    pipeline.budget = Budget(usd=0.002)
    if args.check_replay:
        report_replays([lambda: pipeline.replay(recorded)])


if __name__ == "__main__":
    main()
