"""Replay a graph run: recorded node results, health signals and demoter answers stand in for
the handlers, monitors and LLM, so the run's decisions can be checked with nothing live.

Concurrent fan-out branches interleave their events differently from run to run, so for a
trace with a fan-out the comparison is per decision regardless of order across branches, and
leaves out reweight events: a failure in one branch reaches a sibling's weights only if the
sibling is still running, which depends on timing, not on any decision.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from agentroute.errors import TraceError
from agentroute.events import FanOutEvent, HealthSignalEvent, ModelCallEvent, NodeRunEvent, RunStart
from agentroute.health import HealthContext
from agentroute.models.replay import Recording, ReplayMissError, request_hash
from agentroute.runtime.graph_run import CLEARED, GraphRunner
from agentroute.runtime.graph_state import NodeContext
from agentroute.trace import Trace, replaying
from agentroute.trace.diff import ReplayReport, compare, decision
from agentroute.types import Completion, HealthSignal, ModelRequest


class _RecordedSignals:
    """Serves the signals in force at each step, rebuilt from the traced changes."""

    name = "recorded"

    def __init__(self, events: Sequence[HealthSignalEvent]) -> None:
        self._by_step: dict[tuple[str | None, int], list[HealthSignalEvent]] = defaultdict(list)
        for e in events:
            self._by_step[(e.agent, e.step)].append(e)
        self._in_force: dict[str | None, dict[tuple[str, str], HealthSignal]] = defaultdict(dict)

    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        state = self._in_force[ctx.branch]
        for e in self._by_step.get((ctx.branch, ctx.step), []):
            if e.signal == CLEARED:
                state.pop((e.monitor, e.target), None)
            else:
                state[(e.monitor, e.target)] = HealthSignal(
                    monitor=e.monitor, target=e.target, kind=e.signal, priority=e.priority,
                    multiplier=e.multiplier, down=e.down, action=e.action, detail=e.detail,
                )  # fmt: skip
        return list(state.values())


def _handlers(runs: Sequence[NodeRunEvent]) -> Any:
    queues: dict[str, deque[NodeRunEvent]] = defaultdict(deque)
    for r in runs:
        queues[r.node].append(r)

    def make(node: str) -> Any:
        def handler(ctx: NodeContext) -> Any:
            if not queues[node]:
                raise ReplayMissError(f"node:{node}", "a run the recording does not hold")
            rec = queues[node].popleft()
            if rec.ok:
                return rec.result
            raise type(rec.error_type or "Error", (Exception,), {})(rec.error or "")

        return handler

    return make


async def areplay(runner: GraphRunner, trace: Trace) -> ReplayReport:
    starts = trace.events(RunStart)
    if not starts:
        raise TraceError("the trace has no run_start event to replay")
    recording = Recording(trace.events(ModelCallEvent))

    async def demoter(request: ModelRequest) -> Completion:
        call = recording.next("demoter", request_hash("demoter", request))
        if call.response is None:
            raise RuntimeError(call.error or "the recorded demoter call failed")
        return Completion.model_validate(call.response)

    make = _handlers(trace.events(NodeRunEvent))
    clone = GraphRunner(
        runner.graph,
        {node: make(node) for node in runner.handlers},
        monitors=[_RecordedSignals(trace.events(HealthSignalEvent))],
        demoter=demoter if runner.demoter is not None else None,
        max_node_attempts=runner.max_node_attempts,
        node_timeout_s=runner.node_timeout_s,
        monitor_timeout_s=runner.monitor_timeout_s,
        max_steps=runner.max_steps,
    )
    with replaying():
        replayed = (await clone.arun(starts[0].task)).trace
    if not trace.events(FanOutEvent):
        return compare(trace, replayed)
    return _compare_unordered(trace, replayed)


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
