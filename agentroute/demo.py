"""The main job: customer-support triage on the embedded local models.

A reasoning router picks the specialist. It runs on the large model, which routed 5 of 6
probe requests right where the small one managed 3 of 6. The specialist's reply is written
by the small model unless a one-token probe says the small model is unsure (GlimpRouter's
first-token entropy rule), all inside a hard budget. Run it with ``agentroute demo``.

On free-form support replies the 0.5B model's first-token entropy sits between about 1.5 and
1.9 nats (top-10 alternatives), so the paper's threshold of 1.0 would send every request to
the large model; 1.8 splits our six probe requests roughly in half. It is a weak signal for
this kind of task, and the demo says so rather than hiding it.
"""

from __future__ import annotations

from agentroute.agents import Agent
from agentroute.budget import EntropyPolicy
from agentroute.models import Model
from agentroute.routers import ReasoningRouter
from agentroute.runtime import Pipeline

_STYLE = (
    "You work in the {role} team of an online shop. Write the shop's reply to the customer's "
    "message, speaking to them as 'you': acknowledge the problem, then say what the shop will "
    "do next and when. Two or three sentences."
)
SPECIALISTS = {
    "billing": "Refunds, double charges, invoices and failed payments",
    "shipping": "Where a parcel is, late or lost deliveries, returns of goods",
    "technical": "Login problems, app crashes, error messages, passwords",
}
DEFAULT_TASK = "I was charged twice for order 1234 and I want my money back."


def support_pipeline(
    small: Model | None = None,
    large: Model | None = None,
    *,
    budget_usd: float = 0.002,
    trace_dir: str | None = "traces",
) -> Pipeline:
    small = small or Model.local("small")
    large = large or Model.local("large")
    models = [small, large]
    agents = [
        Agent(
            name, description, instructions=_STYLE.format(role=name), models=models, max_tokens=96
        )
        for name, description in SPECIALISTS.items()
    ]
    return Pipeline(
        agents,
        router=ReasoningRouter(default="billing"),
        router_model=large,
        budget_usd=budget_usd,
        policy=EntropyPolicy(threshold=1.8),
        trace_dir=trace_dir,
        origin="agentroute.demo:support_pipeline",
    )
