"""Serving with the ant colony, on the engine: the colony's stages compile into a graph
(`agentroute.engine.graph.from_stages`) whose branch points choose by the ant rule, each stage
runs as a node, the result is judged, and the outcome goes to the background updater without
waiting for it.

The colony keeps no clock or counter of its own: each ant step the engine's `AntChooser` draws
is in the colony's in-flight ledger until the run's outcome is submitted (or the run is given
up), and the stages' latencies come from the engine's `Outcome` records (one per attempt,
timed by the engine's caller), read when the run ends.

Each run is traced like any other (``run_start``, one ``ant_step`` per stage with the
candidates' probabilities, a ``node_run`` per stage, ``run_end``). Pheromone updates happen
later, off the serving path, so they go to the runner's own learning trace as
``pheromone_update`` events with their deltas.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentroute.aco import AntOutcome, Colony, PheromoneUpdater, Update
from agentroute.engine import Engine, NodeContext, RunState, Session, from_stages
from agentroute.engine.choosers import AntChooser, Chooser
from agentroute.engine.graph import DONE, START
from agentroute.engine.replay import areplay
from agentroute.errors import RunError
from agentroute.events import PheromoneUpdateEvent
from agentroute.trace import Sink, Trace, Tracer
from agentroute.trace.diff import ReplayReport


@dataclass(frozen=True)
class StageResult:
    output: str
    cost: float = 0.0


Execute = Callable[[str, str, str], Awaitable[StageResult]]
"""(node name, query, previous stage's output) -> that stage's result."""
Judge = Callable[[str, str], float | Awaitable[float]]
"""(query, final output) -> quality in [0, 1]: an exact check, a verifier or an LLM judge."""
Intent = Callable[[str], Mapping[str, float] | Awaitable[Mapping[str, float]]]


@dataclass(frozen=True)
class ColonyResult:
    output: str
    path: tuple[str, ...]
    quality: float
    cost: float
    weights: dict[str, float]
    trace: Trace


async def _maybe_await(value: object) -> object:
    return await value if inspect.isawaitable(value) else value


class ColonyRunner:
    def __init__(
        self,
        colony: Colony,
        updater: PheromoneUpdater,
        intent: Intent,
        execute: Execute,
        judge: Judge,
        *,
        sinks: Sequence[Sink] = (),
        learning_sinks: Sequence[Sink] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.colony, self.updater = colony, updater
        self.intent, self.execute, self.judge = intent, execute, judge
        self.learning = Tracer(sinks=learning_sinks, clock=clock)
        updater.on_update = self._record_update
        stages = [[n.name for n in stage] for stage in colony.stages]
        choosers: dict[str, Chooser] = {START: AntChooser(colony, 0, intent)}
        for k, stage in enumerate(stages[:-1]):
            choosers |= {name: AntChooser(colony, k + 1, intent) for name in stage}
        self.engine = Engine(
            from_stages(stages),
            choosers=choosers,
            handlers={n: self._stage(n) for stage in stages for n in stage},
            router="aco",
            sinks=list(sinks),
        )

    def _stage(self, node: str) -> Callable[[NodeContext], Awaitable[dict[str, Any]]]:
        async def run(ctx: NodeContext) -> dict[str, Any]:
            before = ctx.results.get(ctx.previous or "", {})
            result = await self.execute(node, ctx.task, before.get("output", ""))
            return {"output": result.output, "cost": result.cost}

        return run

    def _record_update(self, update: Update) -> None:
        o = update.outcome
        self.learning.emit(
            PheromoneUpdateEvent,
            path=o.path,
            quality=o.quality,
            cost=o.cost,
            passed_gate=update.passed,
            deltas=update.deltas,
        )

    def replay(self, trace: Trace) -> ReplayReport:
        """Run a traced colony run again with nothing live: the recorded stage results, intent
        weights, probabilities and draws stand in for the stages, the intent model and the
        pheromone tables of the time; every choice is made again and compared. Nothing is
        judged and nothing reaches the updater."""
        return asyncio.run(self.areplay(trace))

    async def areplay(self, trace: Trace) -> ReplayReport:
        return await areplay(self.engine, trace)

    async def run(self, query: str) -> ColonyResult:
        """Serve ``query``: choose, run and judge each stage, then hand the outcome to the
        learner. The run's steps leave the in-flight ledger as its outcome is submitted, or
        when the run fails, whatever the failure; a run that did not finish teaches quality 0
        to the steps it drew (the last one is the stage that failed)."""
        session = self.engine.open(query)
        quality: float | None = None  # None: the run raised, there is nothing to learn
        try:
            outcome = await session.run()
            st = outcome.state
            if outcome.status != "completed":
                quality = 0.0
                raise RunError(f"the colony's run did not finish: {outcome.reason}")
            path = tuple(n for n in st.main.taken if n not in (START, DONE))
            output = str(st.results[path[-1]]["output"])
            judged = float(await _maybe_await(self.judge(query, output)))  # type: ignore[arg-type]
            quality = min(1.0, max(0.0, judged))
            weights = dict(st.intent or {})
            return ColonyResult(output, path, judged, _cost(st, path), weights, outcome.trace)
        finally:
            self._settle(session, quality)

    def _settle(self, session: Session, quality: float | None) -> None:
        """The run is over: its steps leave the in-flight ledger, its stages' latencies come
        from the engine's outcomes, and the path its ants drew learns ``quality``."""
        steps = self.colony.settle(session.tracer.run_id)
        st = session.state
        for o in st.outcomes:
            if o.target in self.colony.nodes:
                self.colony.load.observe(o)
        if quality is not None and steps:
            path = tuple(d.edge[1] for d in steps)
            self.updater.submit(AntOutcome(path, dict(st.intent or {}), quality, _cost(st, path)))


def _cost(state: RunState, path: Sequence[str]) -> float:
    """What the stages of ``path`` that produced a result reported they cost."""
    return sum(float(state.results[n]["cost"]) for n in path if n in state.results)
