"""Multi-round routing (Router-R1): a router model answers a two-hop question by sending
sub-questions, round by round, to the models of a pool, then writes the answer itself.

The router (the large model here; any chat model, or a trained Router-R1 checkpoint on an
OpenAI-compatible server with ``--tags``) reads each pool model's price, latency and example
performance, listed best value first under the cost weight. Each round is one engine step: the
router's call, a ``round`` event with the chosen model, the sub-question and the cost weight's
effect, then the pool model's call, all inside one budget and one trace. The script prints
every round, the answer and what it cost. Runs on the embedded models; pass ``--base-url`` and
model names for any OpenAI-compatible server.

    python cookbook/multi_hop.py
    python cookbook/multi_hop.py --cost-weight 0.8 \\
        --task "Take the number of keys on a piano, add 17, then multiply the sum by 9."
    python cookbook/multi_hop.py --cost-weight 0 --value-margin 0.2   # the weight, held in code
"""

from __future__ import annotations

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute import Agent, Model, MultiRoundRouter, Pipeline, PoolModel
from agentroute.events import RoundEvent

DEFAULT_TASK = (
    "Take the number of legs a spider has, multiply it by 37, then subtract 19. "
    "What number do you get?"
)

SMALL_SAYS = "common facts and one-step sums; multi-step arithmetic often wrong"
LARGE_SAYS = "common facts, and multi-step arithmetic when it writes the steps"


def solver(
    small: Model, large: Model, *, cost_weight: float, tags: bool, margin: float | None = None
) -> Pipeline:
    agent = Agent(
        "solver",
        "answers questions that take several steps",
        models=[large],
        pool=[
            PoolModel(small, SMALL_SAYS, latency_s=5.0, score=0.5),
            PoolModel(large, LARGE_SAYS, latency_s=10.0, score=1.0),
        ],
        rounds=MultiRoundRouter(
            cost_weight=cost_weight, max_rounds=4, constrained=not tags, value_margin=margin
        ),
        max_tokens=192,
    )
    return Pipeline([agent], budget_usd=0.01, trace_dir="traces")


def main() -> None:
    parser = cookbook_parser(__doc__, task=DEFAULT_TASK)
    parser.add_argument("--cost-weight", type=float, default=0.3)
    parser.add_argument("--tags", action="store_true", help="Router-R1's tags instead of JSON")
    parser.add_argument(
        "--value-margin", type=float, default=None,
        help="offer each round only the models within this of the best value",
    )  # fmt: skip
    args = parser.parse_args()
    pipeline = solver(
        *small_and_large(args), cost_weight=args.cost_weight, tags=args.tags,
        margin=args.value_margin,
    )  # fmt: skip
    result = pipeline.run(args.task)
    for r in result.trace.events(RoundEvent):
        if r.action == "route":
            print(f"round {r.round}: ask {r.model}: {r.query!r} ({r.effect})")
        elif r.action == "answer":
            print(f"round {r.round}: answer")
        else:
            print(f"round {r.round}: format error ({r.problem}): {r.error}")
    print(result.output.strip())
    print(f"calls={result.model_calls} cost=${result.cost_usd:.6f} trace={result.trace_path}")
    if args.check_replay:
        report_replays([lambda: pipeline.replay(result.trace)])


if __name__ == "__main__":
    main()
