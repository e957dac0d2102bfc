"""Serving with the ant colony: infer the task mix, walk a path, run its stages, judge the
result, and hand the outcome to the background updater without waiting for it.

Each run is traced (``run_start``, one ``ant_step`` per stage with the candidates'
probabilities, ``run_end``). Pheromone updates happen later, off the serving path, so they go
to the runner's own learning trace as ``pheromone_update`` events with their deltas.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from agentroute.aco import AntOutcome, Colony, PheromoneUpdater, Update
from agentroute.events import AntStepEvent, PheromoneUpdateEvent, RunEnd, RunStart
from agentroute.trace import Sink, Trace, Tracer


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
        self.sinks, self.clock = list(sinks), clock
        self.learning = Tracer(sinks=learning_sinks, clock=clock)
        updater.on_update = self._record_update

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

    async def run(self, query: str) -> ColonyResult:
        tracer = Tracer(sinks=self.sinks, clock=self.clock)
        t0 = time.perf_counter()
        tracer.emit(
            RunStart, task=query, agents=tuple(self.colony.nodes), router="aco", origin=None
        )
        ant = self.colony.walk(await _maybe_await(self.intent(query)))  # type: ignore[arg-type]
        weights = ant.weights
        output, cost, previous = "", 0.0, "^start"
        try:
            for i, (node, probabilities) in enumerate(zip(ant.path, ant.steps, strict=True)):
                tracer.emit(
                    AntStepEvent,
                    step=i,
                    stage=i,
                    previous=previous,
                    chosen=node,
                    probabilities=probabilities,
                    task_weights=weights,
                )
                self.colony.load.start(node)
                started = time.perf_counter()
                try:
                    result = await self.execute(node, query, output)
                finally:
                    self.colony.load.finish(node, time.perf_counter() - started)
                output, cost, previous = result.output, cost + result.cost, node
            quality = float(await _maybe_await(self.judge(query, output)))  # type: ignore[arg-type]
        except Exception as e:
            self.updater.submit(AntOutcome(ant.path, weights, 0.0, cost))
            tracer.emit(
                RunEnd, status="error", error_type=type(e).__name__, error=str(e)[:500],
                cost_usd=cost, input_tokens=0, output_tokens=0, model_calls=0,
                wall_s=time.perf_counter() - t0,
            )  # fmt: skip
            raise
        self.updater.submit(AntOutcome(ant.path, weights, min(1.0, max(0.0, quality)), cost))
        tracer.emit(
            RunEnd, status="ok", output=output, cost_usd=cost, input_tokens=0, output_tokens=0,
            model_calls=len(ant.path), wall_s=time.perf_counter() - t0,
        )  # fmt: skip
        return ColonyResult(output, ant.path, quality, cost, weights, tracer.trace)
