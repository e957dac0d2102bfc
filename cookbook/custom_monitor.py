"""A custom health monitor plugged in: a quota monitor that reads how many calls each search
API has left today and steers the route away from an API before it runs dry.

A monitor is any object with a ``name`` and an async ``check(ctx)`` that returns
`HealthSignal`s. This one raises a node's edge weights as its quota falls (a multiplier) and
takes it out (``down``) at zero, so Dijkstra prefers the other API with no LLM call and no
failed request. The quotas live in a JSON file, as they might come from a billing endpoint.

    python cookbook/custom_monitor.py
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute import Agent, FixedTierPolicy, Model, Pipeline
from agentroute.graph import TaskGraph
from agentroute.health import HealthContext
from agentroute.runtime import GraphResult, GraphRunner, NodeContext
from agentroute.types import HealthSignal

EDGES = [("start", "search_fast", 1.0), ("start", "search_slow", 2.5),
         ("search_fast", "answer", 1.0), ("search_slow", "answer", 1.0)]  # fmt: skip
FACT = "The Eiffel Tower is 330 metres tall and was finished in 1889."


class QuotaMonitor:
    """Reads ``{api: calls_left}`` from a file on every step."""

    name = "quota"

    def __init__(self, path: Path, low: int = 3) -> None:
        self.path, self.low = path, low

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        quotas: dict[str, int] = json.loads(self.path.read_text())
        signals = []
        for api, left in quotas.items():
            if api not in ctx.nodes or left > self.low:
                continue
            signals.append(HealthSignal(
                monitor=self.name, target=api, kind="quota_low" if left else "quota_exhausted",
                priority=0.6 if left else 0.9, multiplier=float(self.low + 1 - left) * 2 or 1.0,
                down=left == 0, detail={"calls_left": left},
            ))  # fmt: skip
        return signals


def build(model: Model, quota_file: Path) -> GraphRunner:
    writer = Pipeline([Agent("answerer", "Answers from search results", models=[model],
                             max_tokens=50, instructions="Answer in one sentence.")],
                      policy=FixedTierPolicy(model.tier), trace_dir=None)  # fmt: skip

    def search(api: str):  # type: ignore[no-untyped-def]
        def run(ctx: NodeContext) -> str:
            quotas = json.loads(quota_file.read_text())
            if quotas[api] <= 0:
                raise RuntimeError(f"{api}: quota exhausted")  # never reached: the monitor
            quotas[api] -= 1
            quota_file.write_text(json.dumps(quotas))
            return FACT

        return run

    async def answer(ctx: NodeContext) -> str:
        found = next(v for k, v in ctx.results.items() if k.startswith("search_"))
        return (await writer.arun(f"{ctx.task}\nSearch result: {found}")).output.strip()

    handlers = {"search_fast": search("search_fast"), "search_slow": search("search_slow"),
                "answer": answer}  # fmt: skip
    graph = TaskGraph(EDGES, start="start", goal="answer")
    return GraphRunner(graph, handlers, monitors=[QuotaMonitor(quota_file)])


def describe(i: int, result: GraphResult, quotas: dict[str, int]) -> str:
    signals = sorted({f"{e.target} {e.signal} x{e.multiplier:g}"  # type: ignore[union-attr]
                      for e in result.trace.of_kind("health_signal")})  # fmt: skip
    failures = sum(not e.ok for e in result.trace.of_kind("node_run"))  # type: ignore[union-attr]
    return (
        f"task {i}: {' > '.join(result.path)}; signals {signals or 'none'}; "
        f"quota left {quotas}; failures {failures}"
    )


def main() -> None:
    parser = cookbook_parser(__doc__, task="How tall is the Eiffel Tower?")
    args = parser.parse_args()
    small, _ = small_and_large(args)
    with tempfile.TemporaryDirectory() as tmp:
        quota_file = Path(tmp) / "quotas.json"
        quota_file.write_text(json.dumps({"search_fast": 4, "search_slow": 50}))
        runner = build(small, quota_file)
        results = []
        for i in range(1, 7):
            result = asyncio.run(runner.arun(args.task))
            print(describe(i, result, json.loads(quota_file.read_text())), flush=True)
            results.append(result)
        print(results[-1].results["answer"])
    if args.check_replay:
        report_replays([lambda r=r: runner.replay(r.trace) for r in results])


if __name__ == "__main__":
    main()
