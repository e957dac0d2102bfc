"""Learning off the serving path: outcomes go to a queue; a background task applies them.

`submit` never blocks and never awaits, so serving does not wait for learning. For each
outcome the updater evaporates the pheromone and traffic of the task types involved (rate
``rho`` times the type's weight in the query), adds ``w_t(q)`` to the traffic of every edge of
the path, and, only if the quality gate passes, deposits on those edges

    value = quality / (1 + cost / cost_ref)
    amount_t = w_t(q) * deposit * value      (trail rule)
    amount_t = w_t(q) * value                (rate rule: credit, read per unit of traffic)

quality over cost, where ``cost_ref`` is the cost at which a path earns half the pheromone of
a free one (a very large ``cost_ref`` learns on quality alone). A failing gate deposits
nothing; under the rate rule its traffic still counts, so a failure lowers the edge's rate.
With the rate rule ``1 / rho`` is the memory's length in outcomes of a type. Each update is
reported to the ``on_update`` callback (the runtime turns it into a ``pheromone_update``
trace event).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from agentroute.aco.pheromone import PheromoneMemory
from agentroute.errors import ConfigError


@dataclass(frozen=True)
class AntOutcome:
    path: tuple[str, ...]
    weights: Mapping[str, float]
    quality: float
    cost: float = 0.0

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("an outcome needs the path it scored")
        if not (math.isfinite(self.quality) and 0.0 <= self.quality <= 1.0):
            raise ConfigError(f"quality must lie in [0, 1], not {self.quality}")
        if not (math.isfinite(self.cost) and self.cost >= 0):
            raise ConfigError(f"cost must be finite and >= 0, not {self.cost}")


Gate = Callable[[AntOutcome], bool]
Delta = tuple[str, str, str, float, float]


def min_quality(threshold: float) -> Gate:
    """The gate for judged outcomes: pass when quality is at least ``threshold``."""
    return lambda o: o.quality >= threshold


@dataclass(frozen=True)
class Update:
    outcome: AntOutcome
    passed: bool
    deltas: tuple[Delta, ...]


@dataclass
class PheromoneUpdater:
    memory: PheromoneMemory
    rho: float = 0.05
    deposit: float = 0.5
    cost_ref: float = 1.0
    gate: Gate = field(default=min_quality(0.5), repr=False)
    on_update: Callable[[Update], None] | None = field(default=None, repr=False)
    applied: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    _queue: asyncio.Queue[AntOutcome | None] = field(default_factory=asyncio.Queue, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rho <= 1.0 or self.deposit < 0 or self.cost_ref <= 0:
            raise ConfigError("need 0 <= rho <= 1, deposit >= 0 and cost_ref > 0")

    # -- serving side -----------------------------------------------------------------------
    def submit(self, outcome: AntOutcome) -> None:
        """Queue an outcome for learning; returns at once. Weights naming unknown task
        types raise `ConfigError` here, at the caller, not later in the background."""
        self.memory.check_weights(outcome.weights)
        self._queue.put_nowait(outcome)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # -- learning side ----------------------------------------------------------------------
    def apply(self, outcome: AntOutcome) -> Update:
        """One update, synchronously (the background task calls this)."""
        weights = self.memory.check_weights(outcome.weights)
        passed = bool(self.gate(outcome))
        value = outcome.quality / (1.0 + outcome.cost / self.cost_ref)
        deltas: list[Delta] = []
        for t, w in weights.items():
            if w <= 0:
                continue
            table = self.memory.tables[t]
            deltas += [(t, *c) for c in table.evaporate(self.rho * w)]
            amount = w * value * (self.deposit if table.rule == "trail" else 1.0)
            changes = table.reinforce(outcome.path, w, amount if passed else 0.0)
            deltas += [(t, *c) for c in changes]
        if passed:
            self.applied += 1
        else:
            self.rejected += 1
        update = Update(outcome, passed, tuple(deltas))
        if self.on_update is not None:
            self.on_update(update)
        return update

    async def _run(self) -> None:
        while True:
            outcome = await self._queue.get()
            try:
                if outcome is None:
                    return
                try:
                    self.apply(outcome)
                except Exception as e:  # a broken gate or callback must not stop learning
                    self.errors.append(f"{type(e).__name__}: {e}")
            finally:
                self._queue.task_done()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pheromones")

    async def drain(self) -> None:
        """Wait until every queued outcome has been applied."""
        await self._queue.join()

    async def stop(self) -> None:
        """Apply what is queued, then stop the background task."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def __aenter__(self) -> PheromoneUpdater:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
