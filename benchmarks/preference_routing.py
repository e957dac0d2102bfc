"""The preference router (Arch-Router's routes as policies) on the embedded models.

Eleven routes written as domain / action policies over the intent set's ten agents, each
with two example messages (``benchmarks/data/preference_routes.json``; ``--examples 0`` leaves
them out) and 40 conversations written for them
(``preference_conversations.jsonl``): 24 of one message, 16 of two where the second message
decides (a change of mind, a follow-up that needs the first, a new topic), 6 of them about
nothing the shop does (gold "other"). The router reads the conversation as the engine gives it
to routers (`RunState.routing_text`: the earlier turns, then the new message). Reported per
model: accuracy (the gold route's agent, or no agent for "other"), on one-message and on two-message
conversations, "other" precision and recall, and ms per decision.

    .venv/bin/python benchmarks/preference_routing.py [--models small,large]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from agentroute.models import Model
from agentroute.models.embeddings import embed
from agentroute.routers import Candidate, PreferenceRouter, Route, SemanticRouter
from agentroute.runtime.candidates import ModelCandidates
from agentroute.types import Completer, RouteDecision, routing_text

DATA = Path(__file__).with_name("data")


def conversation(turns: list[str]) -> str:
    """The text routers read, in the engine's form (`RunState.routing_text`)."""
    *before, last = turns
    return routing_text([f"user: {t}" for t in before], last)


Row = tuple[int, str, tuple[str, ...], bool, float]


def off_topic_examples() -> tuple[str, ...]:
    """The intent set's out-of-scope queries, less the four whose topic one of the six
    "other" conversations shares (banana bread, football, a poem, a joke)."""
    shared = ("banana bread", "football", "poem", "joke")
    return tuple(
        q["query"]
        for line in (DATA / "intent_queries.jsonl").read_text().splitlines()
        if (q := json.loads(line))["gold"] is None and not any(w in q["query"] for w in shared)
    )


def table_row(label: str, rows: list[Row]) -> str:
    one = [r[3] for r in rows if r[0] == 1]
    two = [r[3] for r in rows if r[0] == 2]
    said_other = [r for r in rows if not r[2]]
    other = [r for r in rows if r[1] == "other"]
    precision = sum(r[1] == "other" for r in said_other) / max(1, len(said_other))
    recall = sum(not r[2] for r in other) / max(1, len(other))
    ms = sorted(r[4] for r in rows)
    return (
        f"| {label} | {sum(r[3] for r in rows) / len(rows):.0%} | "
        f"{sum(one) / len(one):.0%} | {sum(two) / len(two):.0%} | "
        f"{precision:.0%} ({len(said_other)}) | {recall:.0%} | "
        f"{statistics.median(ms):.0f} / {ms[int(0.95 * (len(ms) - 1))]:.0f} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="small,large")
    parser.add_argument("--examples", type=int, default=2, help="example messages per route")
    parser.add_argument("--configs", default="policies,shortlist,gated",
                        help="policies: every route to the model; shortlist: the 3 closest "
                        "routes by meaning; gated: shortlist, other decided by off-topic "
                        "examples with no model call; gated-all: gated, every route listed and "
                        "the answer held to the shortlist")  # fmt: skip
    args = parser.parse_args()
    routes = tuple(
        Route(r["name"], r["policy"], r["to"], tuple(r["examples"][: args.examples]))
        for r in json.loads((DATA / "preference_routes.json").read_text())
    )
    by_route = {r.name: r.to for r in routes}
    agents = [
        Candidate(a["name"], a["description"])
        for a in json.loads((DATA / "intent_agents.json").read_text())
    ]
    cases = [json.loads(line) for line in (DATA / "preference_conversations.jsonl").open()]

    def vectors(texts: Sequence[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in embed(texts)]

    off_topic = off_topic_examples()
    semantic = SemanticRouter(embed=vectors, off_topic=off_topic)
    configs = {
        "policies": PreferenceRouter(routes),
        "shortlist": PreferenceRouter(routes, shortlist=SemanticRouter(embed=vectors)),
        "gated": PreferenceRouter(routes, shortlist=semantic, gate=True),
        "gated-all": PreferenceRouter(routes, shortlist=semantic, gate=True, list_all=True),
    }

    async def run(route: Callable[[str], Awaitable[RouteDecision]]) -> list[Row]:
        rows = []
        for case in cases:
            started = time.perf_counter()
            decision = await route(conversation(case["turns"]))
            ms = 1000 * (time.perf_counter() - started)
            gold = case["gold"]
            right = decision.chosen == (() if gold == "other" else (by_route[gold],))
            rows.append((len(case["turns"]), gold, decision.chosen, right, ms))
        return rows

    async def routed(router: PreferenceRouter, complete: Completer, text: str) -> RouteDecision:
        return await router.route(text, agents, complete)

    async def closest(text: str) -> RouteDecision:
        """The closest route by meaning alone; other when the off-topic examples are closer
        for both the new message and the whole conversation (no model)."""
        short = configs["gated"].narrow(text, routes)
        chosen = () if short.verdict == "none" else (short.closest.to,)
        return RouteDecision(router="semantic", chosen=chosen)

    print(f"{len(off_topic)} off-topic examples; {len(cases)} conversations\n")
    print("| router | accuracy | one message | two messages | other: precision (said) | "
          "other: recall | ms p50 / p95 |\n|---|---|---|---|---|---|---|")  # fmt: skip
    await closest("warm-up")
    print(table_row("closest route by meaning, other by off-topic examples (no model)",
                    await run(closest)), flush=True)  # fmt: skip
    for tier in args.models.split(","):
        async with ModelCandidates([Model.local(tier)]) as (model,):
            assert model.complete is not None
            for key in args.configs.split(","):
                router, complete = configs[key], model.complete
                await router.route("warm-up", agents, complete)
                rows = await run(functools.partial(routed, router, complete))
                print(table_row(f"local {tier}, {key}", rows), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
