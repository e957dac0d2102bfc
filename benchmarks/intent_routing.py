"""Intent routing on the embedded models: reasoning and semantic routers, 10 agents, 222 queries.

The set (``benchmarks/data/``) was written for this project: ten support agents whose
capabilities overlap (billing/subscriptions/orders, shipping/returns/orders,
account/security/privacy, tech support/product info) and 222 queries, 20 of them out of scope
(gold "none"). Queries are split by the SHA-256 of their text: even = dev, odd = test. The
semantic router's "none fits" threshold is calibrated on dev; every figure is on test. The
reasoning router is not tuned at all.

A query counts as correct when its gold agent is in the chosen set, or, for an out-of-scope
query, when the router chose nothing. Reported: accuracy, in-scope accuracy, average set size,
"none fits" precision and recall, and latency per decision (p50 / p95).

Off-topic examples (``off-topic`` rows, ``--reasoning gated``): the dev split's out-of-scope
queries are given to the semantic router as requests no agent should take; nothing fits when a
test query is closer to one of them than to every agent (margin 0, not tuned). The gated
reasoning router says "none" on that verdict without a model call and reasons otherwise.

Labelled examples (``--reasoning knn``): the dev split's in-scope queries join their gold
agent's examples, and nothing fits when an off-topic example is among a test query's k nearest
texts. k is chosen on dev by leave-one-out (each dev query judged without itself among the
examples), ties to the smaller k, before any test query is seen.

    .venv/bin/python benchmarks/intent_routing.py [--models small,large|none] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentroute.models import Model
from agentroute.models.embeddings import embed
from agentroute.routers import Candidate, ReasoningRouter, SemanticRouter, calibrate
from agentroute.runtime.candidates import ModelCandidates
from agentroute.types import RouteDecision

DATA = Path(__file__).with_name("data")


@dataclass(frozen=True)
class Query:
    text: str
    gold: str | None


def load() -> tuple[list[Candidate], list[Query], list[Query]]:
    agents = [
        Candidate(a["name"], a["description"], tuple(a["examples"]))
        for a in json.loads((DATA / "intent_agents.json").read_text())
    ]
    dev, test = [], []
    for line in (DATA / "intent_queries.jsonl").read_text().splitlines():
        q = Query(**{"text": (d := json.loads(line))["query"], "gold": d["gold"]})
        (test if int(hashlib.sha256(q.text.encode()).hexdigest(), 16) % 2 else dev).append(q)
    return agents, dev, test


@dataclass
class Score:
    name: str
    decisions: list[tuple[Query, RouteDecision, float]]

    def row(self) -> str:
        d = self.decisions
        correct = [(q.gold in r.chosen) if q.gold else not r.chosen for q, r, _ in d]
        in_scope = [c for (q, _, _), c in zip(d, correct, strict=True) if q.gold]
        sizes = [len(r.chosen) for _, r, _ in d if r.chosen]
        said_none = [q for q, r, _ in d if not r.chosen]
        out_scope = [q for q, _, _ in d if q.gold is None]
        precision = sum(q.gold is None for q in said_none) / len(said_none) if said_none else 0
        recall = sum(not r.chosen for q, r, _ in d if q.gold is None) / max(1, len(out_scope))
        ms = sorted(t * 1000 for _, _, t in d)
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        fallbacks = sum(r.fallback for _, r, _ in d)
        return (
            f"| {self.name} | {sum(correct) / len(d):.1%} | {sum(in_scope) / len(in_scope):.1%} "
            f"| {statistics.mean(sizes) if sizes else 0:.2f} | {precision:.0%} ({len(said_none)}) "
            f"| {recall:.0%} | {statistics.median(ms):.0f} / {p95:.0f} | {fallbacks} |"
        )


async def score(
    name: str,
    route: Callable[[str], Awaitable[RouteDecision]],
    queries: Sequence[Query],
) -> Score:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        decision = await route(q.text)
        out.append((q, decision, time.perf_counter() - t0))
    return Score(name, out)


def with_examples(agents: Sequence[Candidate], labelled: Sequence[Query]) -> list[Candidate]:
    """The agents with the labelled in-scope queries added to their gold agent's examples."""
    return [
        Candidate(
            a.name, a.description, (*a.examples, *(q.text for q in labelled if q.gold == a.name))
        )
        for a in agents
    ]


def choose_k(
    embed: Callable[[Sequence[str]], list[list[float]]],
    agents: Sequence[Candidate],
    dev: Sequence[Query],
    ks: Sequence[int] = (1, 2, 3, 4, 5),
) -> tuple[int, dict[int, int]]:
    """The off-topic k with the most right fits / nothing-fits verdicts on dev, each query
    judged leave-one-out; ties go to the smaller k. Returns k and the count per k."""
    right = {}
    for k in ks:
        n = 0
        for i, q in enumerate(dev):
            rest = [d for j, d in enumerate(dev) if j != i]
            router = SemanticRouter(
                embed=embed, off_topic_k=k, off_topic=tuple(d.text for d in rest if d.gold is None)
            )
            fits = router.assess(q.text, with_examples(agents, rest)).fits
            n += fits == (q.gold is not None)
        right[k] = n
    return max(ks, key=lambda k: (right[k], -k)), right


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="small,large")
    parser.add_argument("--limit", type=int, default=0, help="only the first N test queries")
    parser.add_argument(
        "--reasoning", default="plain,tuned",
        help="plain: the catalogue and free text; tuned: semantic shortlist of 3, an example "
        "per agent, output constrained to catalogue names or none, the closest agent kept; "
        "gated: tuned, with none decided by off-topic examples before any model call",
    )  # fmt: skip
    args = parser.parse_args()
    agents, dev, test = load()
    if args.limit:
        test = test[: args.limit]
    print(f"{len(agents)} agents; dev {len(dev)} queries, test {len(test)} "
          f"({sum(q.gold is None for q in test)} out of scope)")  # fmt: skip

    def vectors(texts: Sequence[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in embed(texts)]

    known: dict[str, list[float]] = {}

    def remembered(texts: Sequence[str]) -> list[list[float]]:
        """`vectors`, each text embedded once: choosing k builds a router per dev query."""
        new = [t for t in dict.fromkeys(texts) if t not in known]
        if new:
            known.update(zip(new, vectors(new), strict=True))
        return [known[t] for t in texts]

    scores = []
    base = SemanticRouter(embed=vectors)
    threshold = calibrate(base, [(q.text, q.gold) for q in dev], agents)
    print(f"semantic threshold calibrated on dev: {threshold:.3f}")
    for label, router in (
        ("semantic, top 1", SemanticRouter(embed=vectors, threshold=threshold)),
        (
            "semantic, set (margin 0.02, up to 2)",
            SemanticRouter(embed=vectors, threshold=threshold, margin=0.02, max_agents=2),
        ),
    ):
        await router.route("warm-up", agents, None)  # embeds the catalogue once
        scores.append(await score(label, lambda text, r=router: r.route(text, agents, None), test))
    off_topic = tuple(q.text for q in dev if q.gold is None)
    guarded = SemanticRouter(embed=vectors, off_topic=off_topic, margin=0.02, max_agents=2)
    await guarded.route("warm-up", agents, None)
    scores.append(await score("semantic, set (margin 0.02, up to 2), off-topic examples",
                              lambda text: guarded.route(text, agents, None), test))  # fmt: skip
    k, per_k = choose_k(remembered, agents, dev)
    print(f"off-topic k chosen on dev (leave-one-out right verdicts per k): {k} {per_k}")
    labelled = with_examples(agents, [q for q in dev if q.gold])
    voted = SemanticRouter(embed=vectors, off_topic=off_topic, off_topic_k=k, margin=0.02,
                           max_agents=2)  # fmt: skip
    await voted.route("warm-up", labelled, None)
    scores.append(await score(f"semantic, set (margin 0.02, up to 2), dev examples, k={k}",
                              lambda text: voted.route(text, labelled, None), test))  # fmt: skip
    shortlist = SemanticRouter(embed=vectors, threshold=threshold)
    configs = {
        "plain": ("up to 2, may say none", ReasoningRouter(max_agents=2, allow_none=True,
                                                           max_tokens=48)),
        "tuned": ("shortlist 3, 1 example each, constrained, keeps the closest, up to 2",
                  ReasoningRouter(max_agents=2, allow_none=True, max_tokens=96,
                                  shortlist=shortlist, shortlist_size=3, examples=1,
                                  constrained=True, keep_top=True)),
        "gated": ("tuned, none by off-topic examples before any model call, up to 2",
                  ReasoningRouter(max_agents=2, allow_none=True, max_tokens=96,
                                  shortlist=SemanticRouter(embed=vectors, off_topic=off_topic),
                                  shortlist_size=3, examples=1, constrained=True,
                                  keep_top=True, gate=True)),
        "knn": (f"tuned, dev examples, none by the {k} nearest texts before any model call",
                ReasoningRouter(max_agents=2, allow_none=True, max_tokens=96,
                                shortlist=SemanticRouter(embed=vectors, off_topic=off_topic,
                                                         off_topic_k=k),
                                shortlist_size=3, examples=1, constrained=True,
                                keep_top=True, gate=True)),
    }  # fmt: skip
    catalogue = {"knn": labelled}
    for tier in args.models.split(",") if args.models != "none" else ():
        async with ModelCandidates([Model.local(tier)]) as (model,):  # type: ignore[misc]
            assert model.complete is not None
            for key in args.reasoning.split(","):
                label, router = configs[key]
                cands = catalogue.get(key, agents)
                await router.route("warm-up", cands, model.complete)  # start, fill caches
                scores.append(
                    await score(
                        f"reasoning on local {tier} ({label})",
                        lambda text, r=router, c=model.complete, a=cands: r.route(text, a, c),
                        test,
                    )
                )
    print("\n| router | accuracy | in-scope accuracy | avg set size | none-fits precision (n) "
          "| none-fits recall | ms per decision p50 / p95 | fallbacks |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for s in scores:
        print(s.row())


if __name__ == "__main__":
    asyncio.run(main())
