"""An expert panel: the reasoning router picks a *set* of specialists, they answer in parallel,
and a refining agent merges their answers into one reply that names any conflict.

A request that touches two areas ("charged twice AND the parcel is late") goes to both
specialists; a new specialist joins by being declared with a description, no retraining.
Runs on the embedded local models (router and refiner on large, specialists on small); pass
``--base-url`` and model names to use any OpenAI-compatible server.

    python cookbook/expert_panel.py
    python cookbook/expert_panel.py --task "My card was charged twice and my parcel is late"
"""

from __future__ import annotations

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute import Agent, FixedTierPolicy, Model, Pipeline, ReasoningRouter

SPECIALISTS = {
    "billing": "Charges, double payments, refunds and invoices",
    "shipping": "Parcels, tracking, late or lost deliveries",
    "returns": "Sending items back, exchanges and return labels",
    "account": "Passwords, logins and profile changes",
}
DEFAULT_TASK = "I was charged twice for order 1234, and the parcel is a week late."


def panel(small: Model, large: Model, trace_dir: str | None = "traces") -> Pipeline:
    agents = [
        Agent(
            name,
            description,
            instructions=f"You are the {name} specialist of an online shop. Reply in two "
            "sentences with what you will do about your part of the request only.",
            models=[small],
            max_tokens=80,
        )
        for name, description in SPECIALISTS.items()
    ]
    return Pipeline(
        agents,
        router=ReasoningRouter(max_agents=3, default="billing"),
        router_model=large,
        policy=FixedTierPolicy("small"),
        budget_usd=0.01,
        trace_dir=trace_dir,
    )


def main() -> None:
    parser = cookbook_parser(__doc__, task=DEFAULT_TASK)
    args = parser.parse_args()
    pipeline = panel(*small_and_large(args))
    result = pipeline.run(args.task)
    print(result.output.strip())
    print(
        f"panel={'+'.join(result.agents)} calls={result.model_calls} "
        f"cost=${result.cost_usd:.6f} trace={result.trace_path}"
    )
    if args.check_replay:
        report_replays([lambda: pipeline.replay(result.trace)])


if __name__ == "__main__":
    main()
