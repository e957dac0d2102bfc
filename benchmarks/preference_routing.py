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
import json
import statistics
import time
from pathlib import Path

from agentroute.models import Model
from agentroute.routers import Candidate, PreferenceRouter, Route
from agentroute.runtime.candidates import ModelCandidates

DATA = Path(__file__).with_name("data")


def conversation(turns: list[str]) -> str:
    """The text routers read, in the engine's form (`RunState.routing_text`)."""
    *before, last = turns
    if not before:
        return last
    said = "\n".join(f"user: {t}" for t in before)
    return f"Conversation so far:\n{said}\n\nNew message: {last}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="small,large")
    parser.add_argument("--examples", type=int, default=2, help="example messages per route")
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
    router = PreferenceRouter(routes)
    print("| model | accuracy | one message | two messages | other: precision (said) | "
          "other: recall | ms p50 / p95 |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for tier in args.models.split(","):
        async with ModelCandidates([Model.local(tier)]) as (model,):  # type: ignore[misc]
            assert model.complete is not None
            await router.route("warm-up", agents, model.complete)
            rows = []
            for case in cases:
                started = time.perf_counter()
                decision = await router.route(conversation(case["turns"]), agents, model.complete)
                ms = 1000 * (time.perf_counter() - started)
                gold = case["gold"]
                right = decision.chosen == (() if gold == "other" else (by_route[gold],))
                rows.append((len(case["turns"]), gold, decision.chosen, right, ms))
        one = [r[3] for r in rows if r[0] == 1]
        two = [r[3] for r in rows if r[0] == 2]
        said_other = [r for r in rows if not r[2]]
        other = [r for r in rows if r[1] == "other"]
        precision = sum(r[1] == "other" for r in said_other) / max(1, len(said_other))
        recall = sum(not r[2] for r in other) / max(1, len(other))
        ms = sorted(r[4] for r in rows)
        print(f"| local {tier} | {sum(r[3] for r in rows) / len(rows):.0%} | "
              f"{sum(one) / len(one):.0%} | {sum(two) / len(two):.0%} | "
              f"{precision:.0%} ({len(said_other)}) | {recall:.0%} | "
              f"{statistics.median(ms):.0f} / {ms[int(0.95 * (len(ms) - 1))]:.0f} |")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
