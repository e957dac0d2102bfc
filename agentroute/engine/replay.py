"""One replay for every kind of run: recorded model responses, tool results, handler results,
program answers and health signals stand in for the models, tools, handlers, programs and
monitors, so the run's decisions are made again with nothing live and compared with the
recording. Tools are not run again unless asked (``run_tools=True``): a trace is data, and
replaying it must not repeat its effects.

Concurrent branches interleave their events differently from run to run: a run whose agents
answered in parallel is compared agent by agent, and a run with join fan-outs decision by
decision regardless of order across branches, leaving out reweight events (a failure in one
branch reaches a sibling's weights only if the sibling is still running, which depends on
timing, not on any decision).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any, TypeVar

from agentroute import models
from agentroute.engine.graph import DONE
from agentroute.engine.loop import CLEARED, Engine
from agentroute.errors import AgentrouteError, TraceError
from agentroute.events import (
    AdapterPick,
    AgentRunEvent,
    AntStepEvent,
    FanOutEvent,
    HealthSignalEvent,
    HealthStateEvent,
    ModelCallEvent,
    NodeRunEvent,
    ReplicaPick,
    RunStart,
    ToolCallEvent,
)
from agentroute.health import HealthContext
from agentroute.models import Model, ModelEndpoint
from agentroute.models.replay import Recording, ReplayEndpoint, ReplayMissError
from agentroute.trace import Trace, replaying
from agentroute.trace.diff import ReplayReport, compare, compare_concurrent, decision
from agentroute.types import HealthSignal, Message, ToolCall

E = TypeVar("E")
K = TypeVar("K")


class TraceSource:
    """Serves a trace's tool results, handler results, program answers, and the pool state
    and adapter bounds behind its replica and adapter picks, each name's in the order they
    were recorded."""

    def __init__(self, trace: Trace, *, tools: bool = True) -> None:
        self._tools: dict[tuple[str | None, str, str], deque[ToolCallEvent]] = defaultdict(deque)
        self._nodes: dict[str, deque[NodeRunEvent]] = defaultdict(deque)
        self._programs: dict[str, deque[AgentRunEvent]] = defaultdict(deque)
        self._ants: dict[tuple[int, str], deque[AntStepEvent]] = defaultdict(deque)
        self._picks: dict[tuple[str | None, str], deque[ReplicaPick]] = defaultdict(deque)
        self._adapters: dict[tuple[str | None, str], deque[AdapterPick]] = defaultdict(deque)
        self._serve_tools = tools
        for e in trace:
            if isinstance(e, ReplicaPick):
                self._picks[(e.agent, e.model)].append(e)
            elif isinstance(e, AdapterPick):
                self._adapters[(e.agent, e.model)].append(e)
            elif isinstance(e, ToolCallEvent):
                self._tools[(e.agent, e.call_id, e.tool)].append(e)
            elif isinstance(e, NodeRunEvent):
                self._nodes[e.node].append(e)
            elif isinstance(e, AgentRunEvent) and e.agent is not None:
                self._programs[e.agent].append(e)
            elif isinstance(e, AntStepEvent):
                self._ants[(e.stage, e.previous)].append(e)

    def tool(self, agent: str, call: ToolCall) -> ToolCallEvent | None:
        """The call this agent made with this id (models answer identically in a replay, so
        their tool-call ids match the recording's)."""
        if not self._serve_tools:
            return None
        return _next(self._tools, (agent, call.id, call.name), "tool")

    def node(self, name: str) -> NodeRunEvent:
        return _next(self._nodes, name, "node")

    def program(self, agent: str) -> AgentRunEvent:
        return _next(self._programs, agent, "program")

    def ant_step(self, stage: int, previous: str) -> AntStepEvent:
        return _next(self._ants, (stage, previous), "ant_step")

    def pick(self, agent: str | None, model: str) -> ReplicaPick | None:
        """The pool's state at the next recorded pick (None past the recording: the pick is
        then made on an idle pool, and the replay diverges there)."""
        queue = self._picks.get((agent, model))
        return queue.popleft() if queue else None

    def adapter(self, agent: str | None, model: str) -> AdapterPick | None:
        queue = self._adapters.get((agent, model))
        return queue.popleft() if queue else None


def _next(queues: dict[K, deque[E]], key: K, what: str) -> E:
    if not queues[key]:
        raise ReplayMissError(f"{what}:{key}", "a run the recording does not hold")
    return queues[key].popleft()


class RecordedSignals:
    """Serves the health signals in force at each step of each lane, rebuilt from the traced
    changes."""

    name = "recorded"

    def __init__(self, events: Sequence[HealthSignalEvent | HealthStateEvent]) -> None:
        self._by_step: dict[tuple[str | None, int], list[HealthSignalEvent | HealthStateEvent]]
        self._by_step = defaultdict(list)
        for e in events:
            self._by_step[(e.agent, e.step)].append(e)
        self._in_force: dict[str | None, dict[tuple[str, str], HealthSignal]] = defaultdict(dict)

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        state = self._in_force[ctx.branch]
        for e in self._by_step.get((ctx.branch, ctx.step), []):
            if isinstance(e, HealthStateEvent):
                for x in e.signals:
                    state[(x.monitor, x.target)] = HealthSignal(
                        monitor=x.monitor, target=x.target, kind=x.signal, priority=x.priority,
                        multiplier=x.multiplier, down=x.down,
                        action="escalate" if x.action == "escalate" else "reweight",
                        detail=x.detail,
                    )  # fmt: skip
            elif e.signal == CLEARED:
                state.pop((e.monitor, e.target), None)
            else:
                state[(e.monitor, e.target)] = HealthSignal(
                    monitor=e.monitor,
                    target=e.target,
                    kind=e.signal,
                    priority=e.priority,
                    multiplier=e.multiplier,
                    down=e.down,
                    action=e.action,
                    detail=e.detail,
                )
        return list(state.values())


async def areplay(
    engine: Engine, trace: Trace, *, live: bool = False, run_tools: bool = False
) -> ReplayReport:
    """Run the recorded task again on ``engine`` with nothing live and compare every
    decision. ``live=True`` sends a model request the trace does not hold to the real model
    (what-if replays); ``run_tools=True`` runs the real tools instead of serving their
    recorded results."""
    starts = trace.events(RunStart)
    if not starts:
        raise TraceError("the trace has no run_start event to replay")
    recording = Recording(trace.events(ModelCallEvent))

    def connector(model: Model) -> ModelEndpoint:
        real = None
        if live:
            real = engine.connect(model) if model.provider == "function" else models.connect(model)
        return ReplayEndpoint(recording, model.label, model.provider, model.name, live=real)

    async def no_wait(_: float) -> None:
        return None

    signals = [e for e in trace if isinstance(e, HealthSignalEvent | HealthStateEvent)]
    monitors = [RecordedSignals(signals)] if engine.monitors or signals else []
    try:
        with replaying():
            replayed = (
                await engine.arun(
                    starts[0].task,
                    live=False,
                    connector=connector,
                    sleep=no_wait,
                    recorded=TraceSource(trace, tools=not run_tools),
                    monitors=monitors,
                    # a streamed run's answers stream again, breaks and seams included
                    listen=_ignore if starts[0].streamed else None,
                    history=tuple(Message.model_validate(m) for m in starts[0].history),
                )
            ).trace
    except AgentrouteError as exc:
        replayed = exc.trace  # type: ignore[attr-defined]
    fans = trace.events(FanOutEvent)
    if any(f.join == DONE for f in fans):
        return compare_concurrent(trace, replayed)  # its agents answered in parallel
    if fans:
        return _compare_unordered(trace, replayed)
    return compare(trace, replayed)


def _ignore(_: object) -> None:
    return None


def _compare_unordered(recorded: Trace, replayed: Trace) -> ReplayReport:
    def key(d: dict[str, Any]) -> str:
        return repr(sorted(d.items()))

    def loose(e: Any) -> dict[str, Any]:
        d = decision(e)
        d.pop("parent", None)  # sequence numbers differ with the interleaving
        return d

    a = sorted((loose(e) for e in recorded if e.kind != "reweight"), key=key)
    b = sorted((loose(e) for e in replayed if e.kind != "reweight"), key=key)
    if a == b:
        return ReplayReport(True, len(recorded), None, replayed)
    ordered = compare(recorded, replayed)
    return dataclasses.replace(ordered, identical=False)
