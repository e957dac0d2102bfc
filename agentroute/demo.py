"""The main job: customer-support triage on the embedded local models.

A reasoning router picks the specialist. It runs on the large model, which routed 5 of 6
probe requests right where the small one managed 3 of 6. The specialist's reply is written
by the small model unless a one-token probe says the small model is unsure (GlimpRouter's
first-token entropy rule), all inside a hard budget. Run it with ``agentroute demo``.

To show healing, `run_demo` puts a fault in front of the small model's server by default (a
`FaultProxy` that drops every request): the small model fails, its edges go to infinity, and
the turn is rerouted to the large model with no LLM call. ``fault=False`` runs without it.

On free-form support replies the 0.5B model's first-token entropy sat between about 1.5 and
1.9 nats (top-10 alternatives) with the first prompt, so the paper's threshold of 1.0 would
send every request to the large model and 1.8 split six probe requests roughly in half. The
present prompt asks for an apology first; replies then open with "Sorry" or "I'm", the probe
is confident, and the small model wrote all 12 labelled replies (`benchmarks/demo_answers.py`).
It is a weak signal for this kind of task, and the demo says so rather than hiding it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

from agentroute.agents import Agent
from agentroute.budget import EntropyPolicy
from agentroute.events import ModelCallEvent, ModelSwitch, RerouteEvent, RouteEvent, RunEnd
from agentroute.fault_proxy import Drop, FaultProxy
from agentroute.models import Model
from agentroute.models.local.server import POOL
from agentroute.models.model import LOCAL_PRICES, RetryPolicy
from agentroute.routers import ReasoningRouter
from agentroute.runtime import Pipeline, Result
from agentroute.trace.tracer import Trace

_STYLE = (
    "You answer customers of an online shop for its {role} team. Reply to the customer's "
    "message in two or three plain sentences, speaking to them as 'you': say sorry for the "
    "trouble, then say what the shop will do next and when. No code, no lists, no placeholders."
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
    origin: str = "agentroute.demo:support_pipeline",
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
        origin=origin,
    )


def small_behind(url: str = "http://127.0.0.1:9/v1") -> Model:
    """The small model reached through ``url`` (the demo's fault proxy), under the embedded
    model's label and prices, tried twice before the engine gives up on it."""
    price = LOCAL_PRICES["small"]
    return Model.openai_compatible(
        url, "small", price_in=price.input_per_mtok, price_out=price.output_per_mtok,
        tier="small", alias="local:small", context_window=2048,
        retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.05, max_backoff_s=0.1),
    )  # fmt: skip


def faulted_pipeline() -> Pipeline:
    """The demo's pipeline as it runs with the fault: what `agentroute replay` rebuilds."""
    return support_pipeline(small_behind(), origin="agentroute.demo:faulted_pipeline")


@contextlib.contextmanager
def faulty_small() -> Iterator[Model]:
    """The small model behind a proxy that drops every request (connection reset)."""
    port = urlparse(POOL.url_for("small")).port
    assert port is not None
    with FaultProxy(port) as proxy:
        proxy.script(*[Drop()] * 1000)
        yield small_behind(proxy.url)


def run_demo(
    task: str = DEFAULT_TASK,
    *,
    fault: bool = True,
    budget_usd: float = 0.002,
    trace_dir: str | None = "traces",
) -> Result:
    """The main job on one message, with the small model's server failing unless ``fault``
    is False."""
    with ThreadPoolExecutor(2) as pool:  # both servers start at once
        list(pool.map(POOL.url_for, ("small", "large")))
    if not fault:
        return support_pipeline(budget_usd=budget_usd, trace_dir=trace_dir).run(task)
    with faulty_small() as small:
        origin = "agentroute.demo:faulted_pipeline"
        pipeline = support_pipeline(
            small, budget_usd=budget_usd, trace_dir=trace_dir, origin=origin
        )
        return pipeline.run(task)


def story(trace: Trace, budget_usd: float) -> list[tuple[str, str]]:
    """What the run did, as (heading, line) pairs for the screen: route and why, the
    small/large choice, each healed failure, spend against the budget."""
    lines: list[tuple[str, str]] = []
    for route in trace.events(RouteEvent):
        lines.append(("route", f"{' + '.join(route.chosen)}  ({route.router}: {route.reason})"))
    failed = [e for e in trace.events(ModelCallEvent) if not e.ok]
    for switch in trace.events(ModelSwitch):
        if switch.policy == "failover":
            mine = [e for e in failed if e.model == switch.from_model]
            errors = ", ".join(sorted({e.error_type or "error" for e in mine}))
            lines.append(("healed", f"{switch.from_model} failed ({errors}) on {len(mine)} "
                          f"attempts: the turn went on on {switch.to_model}"))  # fmt: skip
        else:
            lines.append(("switch", f"{switch.to_model}: {switch.reason}"))
    for reroute in trace.events(RerouteEvent):
        lines.append(("reroute", f"{reroute.reason}; new path {' > '.join(reroute.new_path)} "
                      "(no LLM call)"))  # fmt: skip
    calls = trace.events(ModelCallEvent)
    lines.append(("models", ", ".join(f"{e.model} ({e.purpose})" for e in calls if e.ok)))
    spent = sum(end.cost_usd for end in trace.events(RunEnd))
    lines.append(("budget", f"${spent:.6f} of ${budget_usd:g} in {len(calls)} calls "
                  "(notional local prices; a failed attempt is billed as reserved)"))  # fmt: skip
    return lines
