"""The `HealthMonitor` protocol and the runner that polls monitors concurrently.

A monitor looks at what the runtime has observed so far (outcomes of earlier attempts, the
task text) and returns signals. Monitors run in parallel on every step under a deadline; a
monitor that raises or overruns is reported as a signal of its own and never stalls the step.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import operator
import types
from collections import OrderedDict
from collections.abc import Coroutine, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from agentroute.events import TraceEvent
from agentroute.types import HealthSignal, Outcome

T = TypeVar("T")


@dataclass(frozen=True)
class HealthContext:
    """What monitors may look at: the task, the step, the nodes, and the recent outcomes."""

    task: str
    step: int
    nodes: tuple[str, ...]
    outcomes: tuple[Outcome, ...] = ()
    now: float = 0.0
    facts: dict[str, float] = field(default_factory=dict)
    branch: str | None = None
    """The fan-out branch asking (None for the task's main line)."""
    run: str = ""
    """The run asking: monitors shared by many runs (at once, or one after another) keep a
    place in each run's outcomes (`OutcomeCursor`)."""
    events: Sequence[TraceEvent] = ()
    """The run's trace so far, as emitted (redacted): what each agent answered, the tools it
    called, handoffs, reroutes, pauses. The run's own list, not a copy: read it, never change
    it (`EventCursor` hands each event once)."""


class OutcomeCursor:
    """Hands a monitor each outcome once: the outcomes of ``ctx`` it has not seen yet, per run
    (many runs share one monitor; each run's outcome list starts empty). Remembers the last
    ``runs`` runs."""

    def __init__(self, runs: int = 4096) -> None:
        self._seen: OrderedDict[tuple[str, str | None], int] = OrderedDict()
        self._runs = runs

    def new(self, ctx: HealthContext) -> Sequence[Outcome]:
        key = (ctx.run, ctx.branch)
        start = self._seen.pop(key, 0)
        self._seen[key] = len(ctx.outcomes)
        if len(self._seen) > self._runs:
            self._seen.popitem(last=False)
        return ctx.outcomes[start:]


class EventCursor:
    """Hands a monitor each trace event once: the events of ``ctx`` it has not seen yet, per
    run (a run's branches share its trace). Remembers the last ``runs`` runs."""

    def __init__(self, runs: int = 4096) -> None:
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._runs = runs

    def new(self, ctx: HealthContext) -> Sequence[TraceEvent]:
        start = self._seen.pop(ctx.run, 0)
        end = len(ctx.events)
        self._seen[ctx.run] = end
        if len(self._seen) > self._runs:
            self._seen.popitem(last=False)
        return ctx.events[start:end]


@runtime_checkable
class HealthMonitor(Protocol):
    @property
    def name(self) -> str: ...

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]: ...


@dataclass(frozen=True)
class MonitorReport:
    signals: tuple[HealthSignal, ...]
    failures: tuple[HealthSignal, ...]
    answers: tuple[object, ...] = field(default=(), compare=False, repr=False)
    """What each monitor returned, as returned: `run_monitors` hands back this very report
    when every monitor answers with the very same object again."""

    @functools.cached_property
    def winner(self) -> HealthSignal | None:
        """The highest-priority signal: it takes the control decision (none when no signal
        claims any priority)."""
        every = self.signals + self.failures
        best = max(every, key=_priority) if every else None
        return best if best is not None and best.priority > 0 else None


_priority = operator.attrgetter("priority")


async def run_monitors(
    monitors: Sequence[HealthMonitor],
    ctx: HealthContext,
    *,
    timeout_s: float = 0.5,
    last: MonitorReport | None = None,
) -> MonitorReport:
    """Run every monitor concurrently; collect their signals and report their failures.

    Each check starts at once, in this task: one that finishes without waiting (most do: they
    read counters) costs no task and no timer. Only checks that wait are carried on as tasks,
    concurrently, under the deadline. When every monitor answers with what it gave for
    ``last`` (the very same tuple, or no signals), the answer is ``last`` itself."""
    answers: list[object] = []
    waiting: list[tuple[int, HealthMonitor, Coroutine[Any, Any, Sequence[HealthSignal]]]] = []
    for m in monitors:
        try:
            coro = m.check(ctx)
            first = coro.send(None)
        except StopIteration as finished:
            answers.append(finished.value)
        except Exception as exc:  # a broken monitor must not break the step
            answers.append(_Broken("monitor_error", _error(exc)))
        else:
            waiting.append((len(answers), m, _carry_on(coro, first)))
            answers.append(None)
    if waiting:
        await _wait_for(waiting, answers, timeout_s)
    if (
        last is not None
        and len(last.answers) == len(answers)
        and all(map(_unchanged, answers, last.answers))
    ):
        return last
    results = [_checked(m, a) for m, a in zip(monitors, answers, strict=True)]
    signals = tuple(itertools.chain.from_iterable(sigs for sigs, _ in results))
    failures = tuple(f for _, f in results if f is not None)
    return MonitorReport(signals, failures, tuple(answers))


async def _wait_for(
    waiting: list[tuple[int, HealthMonitor, Coroutine[Any, Any, Sequence[HealthSignal]]]],
    answers: list[object],
    timeout_s: float,
) -> None:
    """Carry on the checks that wait, as tasks under one deadline; their answers (or why they
    gave none) go in ``answers``."""

    async def one(rest: Coroutine[Any, Any, Sequence[HealthSignal]]) -> object:
        try:
            return await rest
        except Exception as exc:
            return _Broken("monitor_error", _error(exc))

    tasks = [asyncio.ensure_future(one(rest)) for _, _, rest in waiting]
    # a check past the deadline is left behind, cancelled but not waited for: one that
    # swallows its cancellation cannot stall the step
    await asyncio.wait(tasks, timeout=timeout_s)
    for (i, _, _), task in zip(waiting, tasks, strict=True):
        if task.done():
            answers[i] = task.result()
        else:
            task.cancel()
            answers[i] = _Broken("monitor_timeout", {"timeout_s": timeout_s})


def _unchanged(new: object, old: object) -> bool:
    """The same answer for sure: the very same tuple (a list may have changed in place since),
    or no signals both times."""
    if new is old:
        return type(new) is tuple
    return type(new) is list and not new and type(old) in (list, tuple) and not old


@dataclass(frozen=True)
class _Broken:
    """A monitor that raised or overran, in place of its answer."""

    why: str
    detail: dict[str, float | str]


def _checked(m: HealthMonitor, value: object) -> tuple[Sequence[HealthSignal], HealthSignal | None]:
    """A monitor's answer if it is a list or tuple of `HealthSignal`; otherwise it is reported
    as a broken monitor and ignored."""
    if isinstance(value, _Broken):
        return (), _failure(m, value.why, value.detail)
    if isinstance(value, list | tuple) and all(
        map(isinstance, value, itertools.repeat(HealthSignal))
    ):
        return value, None
    what = type(value).__name__
    return (), _failure(m, "monitor_error", {"error": f"returned {what}, not HealthSignals"})


def _error(exc: BaseException) -> dict[str, float | str]:
    return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def _failure(m: HealthMonitor, why: str, detail: dict[str, float | str]) -> HealthSignal:
    return HealthSignal(monitor=m.name, target=m.name, kind=why, detail=detail)


@types.coroutine
def _carry_on(coro: Coroutine[Any, Any, T], yielded: Any) -> Generator[Any, Any, T]:
    """The rest of a coroutine that was started by hand and stopped at ``yielded``: passes
    what it waits on up to the task running it, and what comes back (or is thrown) down."""
    while True:
        try:
            sent = yield yielded
        except BaseException as exc:  # cancellation, a timeout: hand it to the coroutine
            try:
                yielded = coro.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
