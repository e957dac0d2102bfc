"""Scale-out on Ray: many tasks across worker processes (and machines), with the state that
must be global to be correct held once for the fleet, in Ray actors. Install with
``pip install 'agentroute[ray]'``; nothing else in agentroute imports Ray.

    fleet = Fleet(workers=4, budget_usd=5.0)              # ray.init() starts a local cluster
    breaker = fleet.shared(CircuitBreakerMonitor(failure_threshold=3))
    results = fleet.run(build, tasks, task_budget_usd=0.05)

``build()`` runs once in each worker process and returns what runs a task: a `Pipeline`
(its budget is replaced by the task's grant) or anything with ``async arun(task)``, such as a
`GraphRunner` whose monitors include ``breaker``. Results come back as `FleetResult`s with
their traces.

- **Budget across workers**: an escrow actor grants each task its budget before it starts
  (never more than the fleet has left) and takes back what it did not spend. Every
  reservation is reported to the escrow before its request is sent, so an attempt that dies
  mid-call is charged its worst case, and a retry of the task gets only what is left of the
  task's grant: the fleet never spends more than ``budget_usd``.
- **Health**: `Fleet.shared` puts a monitor (a circuit breaker, say) in an actor and returns a
  `HealthMonitor` for the workers' graphs: one worker's failures open the breaker for all.
- **Pheromones**: `Fleet.colony` holds one `PheromoneMemory` and its quality-gated updater
  for the fleet; workers route on a snapshot and submit each task's outcome once (a retried
  task's outcome counts once).
- **Worker failure**: a worker that dies is restarted and its unfinished tasks are retried.
  With ``durable=`` (a SQLite path on a disk all workers share) a task runs as a
  `DurablePipeline` keyed by its id, so the retry resumes from the last checkpoint: no
  finished model call or tool effect is repeated. The retry's trace starts with a
  ``task_retry`` event saying which attempt it is and what the earlier ones were charged.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray

from agentroute.aco import AntOutcome, PheromoneMemory, PheromoneUpdater
from agentroute.budget import Reservation
from agentroute.errors import AgentrouteError, ConfigError
from agentroute.health import HealthContext, HealthMonitor
from agentroute.runtime.pipeline import Pipeline
from agentroute.types import HealthSignal, Price, Usage

Build = Callable[[], Any]


@dataclass(frozen=True)
class FleetResult:
    """One task's outcome as the fleet gathers it."""

    task_id: str
    task: str
    ok: bool
    output: str | None
    error: str | None
    agents: tuple[str, ...]
    cost_usd: float
    model_calls: int
    attempt: int
    """1 for a task that ran once; more when its worker died and it was retried."""
    charged_before_usd: float
    """What earlier attempts of this task were charged (settled, plus worst cases in flight)."""
    worker_pid: int
    trace: list[dict[str, Any]] = field(default_factory=list)


# -- the escrow: the fleet's budget -----------------------------------------------------------
@ray.remote
class _Escrow:
    """Grants, and what each task was charged: settled spend plus the worst cases of the
    reservations still open (by attempt and reservation id)."""

    def __init__(self, total_usd: float | None) -> None:
        self.total = total_usd
        self.grants: dict[str, float] = {}
        self.attempts: dict[str, int] = {}
        self.settled: dict[str, float] = {}
        self.open: dict[str, dict[tuple[int, int], float]] = {}
        self.finished: set[str] = set()
        self.committed = 0.0
        """Grants of running tasks plus the spend of finished ones, kept as tasks move."""

    def _charged(self, task_id: str) -> float:
        held = sum(self.open.get(task_id, {}).values())
        return self.settled.get(task_id, 0.0) + held

    def begin(self, task_id: str, want: float | None) -> tuple[int, float | None, float]:
        """(attempt number, budget for this attempt, charged to earlier attempts)."""
        attempt = self.attempts.get(task_id, 0) + 1
        self.attempts[task_id] = attempt
        if task_id not in self.grants:
            if self.total is None:
                grant = want if want is not None else float("inf")
            else:
                left = max(0.0, self.total - self.committed)
                grant = min(left, want) if want is not None else left
            self.grants[task_id] = grant
            if grant != float("inf"):  # an unbounded grant commits only what it spends
                self.committed += grant
        charged = self._charged(task_id)
        # earlier attempts are over: their in-flight worst cases are now spent
        self.settled[task_id] = charged
        self.open.pop(task_id, None)
        grant = self.grants[task_id]
        budget = None if grant == float("inf") else max(0.0, grant - charged)
        return attempt, budget, charged

    def reserve(self, task_id: str, attempt: int, rid: int, amount: float) -> None:
        self.open.setdefault(task_id, {})[(attempt, rid)] = amount

    def settle(self, task_id: str, attempt: int, rid: int, actual: float) -> None:
        self.open.get(task_id, {}).pop((attempt, rid), None)
        self.settled[task_id] = self.settled.get(task_id, 0.0) + actual

    def release(self, task_id: str, attempt: int, rid: int) -> None:
        self.open.get(task_id, {}).pop((attempt, rid), None)

    def finish(self, task_id: str) -> None:
        """The task is over: only what it spent stays committed."""
        self.open.pop(task_id, None)
        spent = self.settled.get(task_id, 0.0)
        grant = self.grants[task_id]
        before = spent if task_id in self.finished else (0.0 if grant == float("inf") else grant)
        self.committed += spent - before
        self.finished.add(task_id)

    def summary(self) -> dict[str, float]:
        spent = sum(self.settled.values())
        return {"total": self.total or 0.0, "spent": spent, "committed": self.committed}


class EscrowAccount:
    """The parent of a task's ledger on a worker: every reservation is reported to the escrow
    (a blocking call) before its request is sent, settlements and releases after. The task's
    own ledger enforces its grant; the escrow knows what each task was charged."""

    def __init__(self, escrow: Any, task_id: str, attempt: int) -> None:
        self.escrow, self.task_id, self.attempt = escrow, task_id, attempt
        self._next = itertools.count()

    def reserve(self, label: str, price: Price, input_tokens: int, max_tokens: int) -> Reservation:
        amount = price.worst_case(input_tokens, max_tokens)
        rid = next(self._next)
        ray.get(self.escrow.reserve.remote(self.task_id, self.attempt, rid, amount))
        return Reservation(rid, label, amount, input_tokens + max_tokens, max_tokens)

    def settle(
        self, reservation: Reservation, price: Price, usage: Usage | None
    ) -> tuple[float, float]:
        actual = reservation.amount_usd if usage is None else price.cost(usage)
        self.escrow.settle.remote(self.task_id, self.attempt, reservation.id, actual)
        return actual, max(0.0, actual - reservation.amount_usd)

    def release(self, reservation: Reservation) -> None:
        self.escrow.release.remote(self.task_id, self.attempt, reservation.id)

    def remaining_usd(self) -> float:
        return math.inf

    def remaining_tokens(self) -> float:
        return math.inf


# -- shared health ---------------------------------------------------------------------------
@ray.remote
class _MonitorActor:
    def __init__(self, monitor: HealthMonitor) -> None:
        self.monitor = monitor

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        return await self.monitor.check(ctx)

    def ask(self, method: str, args: tuple[Any, ...]) -> Any:
        return getattr(self.monitor, method)(*args)


class RemoteMonitor:
    """A `HealthMonitor` whose state lives in one actor for the whole fleet."""

    def __init__(self, actor: Any, name: str) -> None:
        self.actor, self.name = actor, name

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        signals: Sequence[HealthSignal] = await self.actor.check.remote(ctx)
        return signals


# -- shared pheromones -----------------------------------------------------------------------
@ray.remote
class _ColonyActor:
    def __init__(self, memory: PheromoneMemory, updater: dict[str, Any]) -> None:
        self.memory = memory
        self.updater = PheromoneUpdater(memory, **updater)
        self.seen: set[str] = set()

    def snapshot(self) -> PheromoneMemory:
        return self.memory

    def submit(self, task_id: str, outcome: AntOutcome) -> bool:
        """Apply a task's outcome once; False for a repeat (a retried task)."""
        if task_id in self.seen:
            return False
        self.seen.add(task_id)
        self.updater.apply(outcome)
        return True

    def counts(self) -> dict[str, int]:
        return {
            "applied": self.updater.applied,
            "rejected": self.updater.rejected,
            "outcomes": len(self.seen),
        }


class SharedColony:
    """The fleet's pheromone memory: route on `snapshot()`, report with `submit()`."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    async def snapshot(self) -> PheromoneMemory:
        memory: PheromoneMemory = await self.actor.snapshot.remote()
        return memory

    async def submit(self, task_id: str, outcome: AntOutcome) -> bool:
        applied: bool = await self.actor.submit.remote(task_id, outcome)
        return applied

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = ray.get(self.actor.counts.remote())
        return out


# -- workers ---------------------------------------------------------------------------------
@ray.remote(max_restarts=3, max_task_retries=3)
class _Worker:
    def __init__(self, build: Build, durable: str | None) -> None:
        self.runner = build()
        self.durable = durable

    async def run(self, task_id: str, task: str, escrow: Any, want: float | None) -> FleetResult:
        # imported here: Ray ships this class by value, and a context variable cannot travel
        from agentroute.engine import TASK_ATTEMPT

        attempt, budget, charged = await escrow.begin.remote(task_id, want)
        token = None
        if attempt > 1:
            token = TASK_ATTEMPT.set(
                {"task_id": task_id, "attempt": attempt, "charged_before_usd": charged}
            )
        try:
            return await self._run(task_id, task, escrow, attempt, budget, charged)
        finally:
            if token is not None:
                TASK_ATTEMPT.reset(token)
            await escrow.finish.remote(task_id)

    async def _run(
        self,
        task_id: str,
        task: str,
        escrow: Any,
        attempt: int,
        budget: float | None,
        charged: float,
    ) -> FleetResult:
        runner = self.runner
        if isinstance(runner, Pipeline):
            runner = runner.copy()
            runner.engine.account = EscrowAccount(escrow, task_id, attempt)
            if budget is not None:
                runner.budget = runner.budget.model_copy(update={"usd": budget})
        base: dict[str, Any] = dict(
            task_id=task_id,
            task=task,
            attempt=attempt,
            charged_before_usd=charged,
            worker_pid=os.getpid(),
        )
        try:
            if self.durable is not None and isinstance(runner, Pipeline):
                result = await self._durable(runner, task_id, task, budget)
            else:
                result = await runner.arun(task)
        except AgentrouteError as exc:
            trace = getattr(exc, "trace", None)
            return FleetResult(
                ok=False,
                output=None,
                error=f"{type(exc).__name__}: {exc}",
                agents=(),
                cost_usd=0.0,
                model_calls=0,
                trace=[e.record() for e in trace] if trace is not None else [],
                **base,
            )
        return FleetResult(
            ok=True,
            output=getattr(result, "output", None),
            error=None,
            agents=tuple(getattr(result, "agents", ()) or ()),
            cost_usd=float(getattr(result, "cost_usd", 0.0)),
            model_calls=int(getattr(result, "model_calls", 0)),
            trace=[e.record() for e in result.trace],
            **base,
        )

    async def _durable(
        self, runner: Pipeline, task_id: str, task: str, budget: float | None
    ) -> Any:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        from agentroute.runtime.langgraph_backend import DurablePipeline

        assert self.durable is not None
        async with AsyncSqliteSaver.from_conn_string(self.durable) as saver:
            durable = DurablePipeline(runner, checkpointer=saver)
            snapshot = await durable.graph.aget_state({"configurable": {"thread_id": task_id}})
            if snapshot.values:
                # the checkpoint carries what finished attempts spent: the ledger starts from
                # it, so the budget is what the grant leaves beside the in-flight worst cases
                carried = float(snapshot.values.get("spent", {}).get("", [0.0])[0])
                if budget is not None:
                    runner.budget = runner.budget.model_copy(update={"usd": budget + carried})
                return await durable.aresume(task_id)
            return await durable.arun(task, thread_id=task_id)


class Fleet:
    """A pool of Ray workers running agentroute tasks, with fleet-wide budget, health and
    pheromone state. ``ray.init()`` is called (a local cluster) unless Ray is running."""

    def __init__(
        self,
        *,
        workers: int = 2,
        budget_usd: float | None = None,
        durable: str | os.PathLike[str] | None = None,
        ray_init: dict[str, Any] | None = None,
    ) -> None:
        if workers < 1:
            raise ConfigError("a fleet needs at least one worker")
        if budget_usd is not None and budget_usd < 0:
            raise ConfigError("the fleet budget cannot be negative")
        if not ray.is_initialized():
            ray.init(**(ray_init or {}))
        self.workers = workers
        self.budget_usd = budget_usd
        self.durable = os.fspath(durable) if durable is not None else None
        self.escrow = _Escrow.remote(budget_usd)  # type: ignore[attr-defined]

    def shared(self, monitor: HealthMonitor) -> RemoteMonitor:
        """One instance of ``monitor`` for the whole fleet."""
        if not isinstance(monitor, HealthMonitor):
            raise ConfigError(f"{monitor!r} is not a HealthMonitor")
        actor = _MonitorActor.remote(monitor)  # type: ignore[attr-defined]
        return RemoteMonitor(actor, monitor.name)

    def ask(self, remote: RemoteMonitor, method: str, *args: Any) -> Any:
        """Call a method of the shared monitor where it lives (``fleet.ask(breaker, "state",
        "primary")``), for checks and dashboards."""
        return ray.get(remote.actor.ask.remote(method, args))

    def colony(self, memory: PheromoneMemory, **updater: Any) -> SharedColony:
        """One pheromone memory and its quality-gated updater for the whole fleet;
        ``updater`` takes `PheromoneUpdater`'s settings (rho, deposit, cost_ref, gate)."""
        return SharedColony(_ColonyActor.remote(memory, updater))  # type: ignore[attr-defined]

    def run(
        self,
        build: Build,
        tasks: Sequence[str],
        *,
        task_budget_usd: float | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[FleetResult]:
        """Run ``tasks`` on the workers (each worker runs many at once) and gather results in
        order. ``ids`` name the tasks (default ``task-<n>``); they key grants, checkpoints
        and pheromone outcomes, so a retried task is the same task."""
        if ids is not None and len(ids) != len(tasks):
            raise ConfigError("give one id per task")
        if self.budget_usd is not None and task_budget_usd is None:
            raise ConfigError(
                "a fleet budget is granted task by task: give task_budget_usd, the most one "
                "task may spend"
            )
        names = list(ids) if ids is not None else [f"task-{i}" for i in range(len(tasks))]
        if len(set(names)) != len(names):
            raise ConfigError("task ids must be unique")
        pool = [_Worker.remote(build, self.durable) for _ in range(self.workers)]  # type: ignore[attr-defined]
        refs = [
            pool[i % len(pool)].run.remote(name, task, self.escrow, task_budget_usd)
            for i, (name, task) in enumerate(zip(names, tasks, strict=True))
        ]
        try:
            results: list[FleetResult] = ray.get(refs)
        finally:
            for w in pool:
                ray.kill(w)
        return results

    def spend(self) -> dict[str, float]:
        """The fleet's budget, what was spent, and what is committed (grants in use)."""
        out: dict[str, float] = ray.get(self.escrow.summary.remote())
        return out
