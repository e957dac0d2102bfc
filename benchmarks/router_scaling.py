"""How a routing decision's time grows with the number of candidate agents (2 to 512), for the
routers that decide without a model call: semantic (cosine over cached catalogue embeddings),
ant colony (pheromone x heuristic over one stage), LinUCB bandit. Embeddings are fixed random
384-d vectors so that only the router is timed. Writes an SVG plot.

    .venv/bin/python benchmarks/router_scaling.py [--out benchmarks/router_scaling.svg]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from agentroute.aco import AgentNode, AntRouter, Colony, PheromoneMemory
from agentroute.routers import Candidate, LinUCBRouter, SemanticRouter

SIZES = (2, 8, 32, 128, 512)


def fake_embed(texts: Sequence[str]) -> list[list[float]]:
    out = []
    for t in texts:
        rng = random.Random(t)
        out.append([rng.gauss(0, 1) for _ in range(384)])
    return out


def time_router(make: Callable[[list[Candidate]], object], n: int, reps: int) -> float:
    candidates = [Candidate(f"agent{i}", f"handles topic {i}") for i in range(n)]
    router = make(candidates)

    async def go() -> list[float]:
        times = []
        for i in range(reps + 3):
            started = time.perf_counter()
            await router.route(f"query {i % 7}", candidates, None)  # type: ignore[attr-defined]
            times.append(time.perf_counter() - started)
        return times[3:]

    return statistics.median(asyncio.run(go())) * 1e6


def routers() -> dict[str, Callable[[list[Candidate]], object]]:
    cache: dict[str, list[float]] = {}

    def embed(texts: Sequence[str]) -> list[list[float]]:
        missing = [t for t in texts if t not in cache]
        for t, v in zip(missing, fake_embed(missing), strict=True):
            cache[t] = v
        return [cache[t] for t in texts]

    def ants(cands: list[Candidate]) -> object:
        colony = Colony([[AgentNode(c.name) for c in cands]], PheromoneMemory(["t"]))
        return AntRouter(colony, lambda q: {"t": 1.0})

    return {
        "semantic": lambda cands: SemanticRouter(embed=embed),
        "ant colony": ants,
        "LinUCB bandit": lambda cands: LinUCBRouter(),
    }


def svg(series: dict[str, list[float]], path: Path) -> None:
    w, h, pad = 560, 320, 50
    top = max(max(v) for v in series.values())
    ymax = 10 ** math.ceil(math.log10(top))
    colours = ["#1f77b4", "#d62728", "#2ca02c"]

    def x(i: int) -> float:
        return pad + i * (w - 2 * pad) / (len(SIZES) - 1)

    def y(v: float) -> float:
        return h - pad - math.log10(max(v, 1)) / math.log10(ymax) * (h - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
             'font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{w / 2}" y="18" text-anchor="middle">routing decision time vs '
             'candidates (median, log scale)</text>']  # fmt: skip
    for i, n in enumerate(SIZES):
        parts.append(f'<text x="{x(i)}" y="{h - pad + 16}" text-anchor="middle">{n}</text>')
    for e in range(int(math.log10(ymax)) + 1):
        v = 10**e
        parts.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y(v)}" y2="{y(v)}" stroke="#ddd"/>')
        parts.append(f'<text x="{pad - 4}" y="{y(v) + 4}" text-anchor="end">{v:g} us</text>')
    for k, (name, values) in enumerate(series.items()):
        pts = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colours[k]}" '
                     'stroke-width="2"/>')  # fmt: skip
        parts.append(f'<text x="{pad + 10}" y="{40 + 14 * k}" fill="{colours[k]}">'
                     f"{name}</text>")  # fmt: skip
    parts.append(f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">candidate agents</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--out", default=str(Path(__file__).with_name("router_scaling.svg")))
    args = parser.parse_args()
    series: dict[str, list[float]] = {}
    print("candidates " + " ".join(f"{n:>8}" for n in SIZES) + "   (median us per decision)")
    for name, make in routers().items():
        series[name] = [time_router(make, n, args.reps) for n in SIZES]
        print(f"{name:<10} " + " ".join(f"{v:8.1f}" for v in series[name]))
    svg(series, Path(args.out))
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
