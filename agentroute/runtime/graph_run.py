"""Run a task through a `TaskGraph` with self-healing routing.

Each step: monitors run in parallel, the graph is reweighted from their signals, Dijkstra plans
from where the task stands to the goal, and the next node runs. A node that fails is taken out
for the rest of the task and the path is recomputed with no LLM call (a ``reroute`` event).
Only when no feasible path remains is the LLM asked, once, to pick a reachable lesser goal;
without one the task ends in an explicit escalation. Nothing fails silently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentroute.errors import ConfigError, RunError
from agentroute.events import (
    Escalation,
    FanOutEvent,
    HealthSignalEvent,
    ModelCallEvent,
    NodeRunEvent,
    PathEvent,
    RerouteEvent,
    ReweightEvent,
    RunEnd,
    RunStart,
)
from agentroute.graph import (
    GoalTree,
    Plan,
    Reweighter,
    TaskGraph,
    Weights,
    node_factors,
    reachable_lesser_goals,
)
from agentroute.health import HealthContext, HealthMonitor, run_monitors
from agentroute.models.replay import request_hash
from agentroute.runtime.concurrency import all_or_cancel
from agentroute.runtime.graph_state import GraphResult, Handler, NodeContext, State
from agentroute.trace import Redactor, Sink, Trace, Tracer
from agentroute.trace.diff import ReplayReport
from agentroute.types import (
    Completer,
    Completion,
    HealthSignal,
    Message,
    ModelRequest,
    Outcome,
)

_DEMOTE = (
    "The task's goal can no longer be reached. Choose the best acceptable lesser goal from "
    "the list, or escalate to a human. Answer in one line: 'Goal: <id>' or 'Goal: escalate'."
)


class GraphRunner:
    """Self-healing execution over a `TaskGraph` with user handlers for its nodes.

    ``monitors`` are shared across runs (their state is the fleet's health memory).
    ``demoter`` is the LLM used only when no feasible path exists.
    """

    def __init__(
        self,
        graph: TaskGraph,
        handlers: Mapping[str, Handler],
        *,
        monitors: Sequence[HealthMonitor] = (),
        demoter: Completer | None = None,
        max_node_attempts: int = 1,
        node_timeout_s: float = 60.0,
        monitor_timeout_s: float = 0.5,
        max_steps: int = 200,
        sinks: Sequence[Sink] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        runnable = {n for n in graph.nodes if n != graph.start}
        missing = sorted(runnable - set(handlers))
        if missing:
            raise ConfigError(f"no handler for node(s) {missing}")
        unknown = sorted(set(handlers) - set(graph.nodes))
        if unknown:
            raise ConfigError(f"handlers for nodes not in the graph: {unknown}")
        if max_node_attempts < 1:
            raise ConfigError("max_node_attempts must be >= 1")
        self.graph = graph
        self.handlers = dict(handlers)
        self.monitors = list(monitors)
        self.demoter = demoter
        self.max_node_attempts = max_node_attempts
        self.node_timeout_s = node_timeout_s
        self.monitor_timeout_s = monitor_timeout_s
        self.max_steps = max_steps
        self.sinks = list(sinks)
        self.clock = clock
        # built once per runner, not per run: the redactor scans the environment, the
        # reweighter indexes the graph
        self._redactor = Redactor()
        self._reweighter = Reweighter(graph)

    def run(self, task: str) -> GraphResult:
        return asyncio.run(self.arun(task))

    def replay(self, trace: Trace) -> ReplayReport:
        """Run the traced task again with recorded node results, health signals and demoter
        answers (no handler, monitor or model is called) and compare every decision."""
        from agentroute.runtime.graph_replay import areplay

        return asyncio.run(areplay(self, trace))

    async def arun(self, task: str) -> GraphResult:
        tracer = Tracer(sinks=self.sinks, redactor=self._redactor)
        g = self.graph
        start = tracer.emit(RunStart, task=task, agents=g.nodes, router="dijkstra")
        st = State(current=g.start, goal=g.goal, taken=[g.start])
        started = self.clock()
        try:
            with tracer.scope(start):
                result = await self._loop(task, st, tracer)
        finally:
            tracer.emit(
                RunEnd, status="ok" if st.current == st.goal else "error",
                output=st.current, cost_usd=0.0, input_tokens=0, output_tokens=0,
                model_calls=st.llm_calls, wall_s=self.clock() - started,
            )  # fmt: skip
            tracer.close()
        return dataclasses.replace(result, trace=tracer.trace)

    async def _loop(self, task: str, st: State, tracer: Tracer) -> GraphResult:
        for step in range(1, self.max_steps + 1):
            if st.current == st.goal:
                break
            weights, winner = await self._reweight(task, step, st, tracer)
            if winner is not None and winner.action == "escalate":
                tracer.emit(
                    Escalation,
                    step=step,
                    agent=st.branch,
                    reason="health_escalation",
                    detail={
                        "monitor": winner.monitor,
                        "signal": winner.kind,
                        "target": winner.target,
                        "priority": winner.priority,
                    },
                )
                return st.result(
                    "escalated", f"{winner.monitor} raised {winner.kind} on {winner.target}"
                )
            if st.tree is None or st.tree.goal != st.goal:
                st.tree = GoalTree(self.graph, st.goal, weights)
            plan = st.tree.path(st.current)
            if plan is None:
                outcome = await self._no_path(task, step, st, tracer, weights)
                if outcome is not None:
                    return outcome
                continue
            self._note_plan(step, st, plan, tracer)
            fanned = await self._fan_out(task, step, plan, st, tracer)
            if isinstance(fanned, GraphResult):
                return fanned
            if fanned:
                continue
            await self._run_node(task, step, plan.path[1], st, tracer)
        else:
            raise RunError(f"graph run did not reach a goal in {self.max_steps} steps")
        return st.result("demoted" if st.demoted else "completed")

    def _trace_signal_changes(
        self,
        step: int,
        st: State,
        signals: Sequence[HealthSignal],
        winner: HealthSignal | None,
        tracer: Tracer,
    ) -> None:
        """Trace the signals that matter (they move weights, claim priority or report a broken
        monitor) when they appear or change, and a ``cleared`` signal when one goes away:
        the trace holds every change, not the same 50 signals again at every step."""
        current: dict[tuple[str, str], tuple[Any, ...]] = {}
        for s in signals:
            if not (s.down or s.priority > 0 or s.multiplier != 1.0 or s.kind in MONITOR_FAILURES):
                continue
            key = (s.monitor, s.target)
            facts = (s.kind, s.priority, s.multiplier, s.down, s.action, s is winner)
            current[key] = facts
            if st.signals.get(key) != facts:
                tracer.emit(
                    HealthSignalEvent, step=step, agent=st.branch, monitor=s.monitor,
                    target=s.target, signal=s.kind, priority=s.priority,
                    multiplier=s.multiplier, down=s.down, action=s.action,
                    winner=s is winner, detail=s.detail,
                )  # fmt: skip
        for monitor, target in st.signals.keys() - current.keys():
            tracer.emit(
                HealthSignalEvent, step=step, agent=st.branch, monitor=monitor, target=target,
                signal=CLEARED, priority=0.0, multiplier=1.0, down=False,
            )  # fmt: skip
        st.signals = current

    async def _reweight(
        self, task: str, step: int, st: State, tracer: Tracer
    ) -> tuple[Weights, HealthSignal | None]:
        ctx = HealthContext(
            task=task,
            step=step,
            nodes=self.graph.nodes,
            outcomes=tuple(st.outcomes),
            now=self.clock(),
            facts=dict(st.facts),
            branch=st.branch,
            run=tracer.run_id,
        )
        report = await run_monitors(self.monitors, ctx, timeout_s=self.monitor_timeout_s)
        winner = report.winner
        self._trace_signal_changes(step, st, (*report.signals, *report.failures), winner, tracer)
        if st.reweighter is None:
            st.reweighter = self._reweighter.clone()
        diff = st.reweighter.apply(node_factors(report.signals, st.excluded))
        if diff:
            tracer.emit(ReweightEvent, step=step, agent=st.branch, changes=diff)
            if st.tree is not None:
                st.tree.update(diff)
        return st.reweighter.weights, winner

    def _note_plan(self, step: int, st: State, plan: Plan, tracer: Tracer) -> None:
        old = st.plan
        remaining = old.path[old.path.index(st.current) :] if old and st.current in old.path else ()
        if old is None:
            tracer.emit(
                PathEvent,
                step=step,
                agent=st.branch,
                source=st.current,
                goal=st.goal,
                path=plan.path,
                cost=plan.cost,
            )
        elif plan.path != remaining:
            st.reroutes += 1
            reason = (
                f"{st.last_failed} failed; its edges now weigh infinity"
                if st.last_failed
                else "health reweighting made another path cheaper"
            )
            tracer.emit(
                RerouteEvent,
                step=step,
                agent=st.branch,
                failed=st.last_failed,
                reason=reason,
                old_path=remaining,
                new_path=plan.path,
                new_cost=plan.cost,
            )
        st.last_failed = None
        st.plan = plan

    async def _fan_out(
        self, task: str, step: int, plan: Plan, st: State, tracer: Tracer
    ) -> GraphResult | bool:
        """When the plan crosses a join whose other prerequisites are not done, reach all of
        them with concurrent branches. Returns True when it ran branches, a result when a
        branch could not finish (the task escalates), False when there was nothing to do."""
        requires = self.graph.requires
        for i, join in enumerate(plan.path[1:], start=1):
            if join not in requires or join in st.results:
                continue
            via = plan.path[i - 1]
            unmet = [p for p in requires[join] if p not in st.results]
            if not [p for p in unmet if p != via]:
                return False
            fan = tracer.emit(
                FanOutEvent,
                step=step,
                agent=st.branch,
                join=join,
                source=st.current,
                branches=tuple(unmet),
            )
            branches = [st.fork(p) for p in unmet]
            with tracer.scope(fan):
                results = await all_or_cancel([self._loop(task, b, tracer) for b in branches])
            for b, r in zip(branches, results, strict=True):
                st.taken.extend(n for n in b.taken if n not in st.taken)
                st.reroutes += r.reroutes
                st.llm_calls += r.llm_calls
            failed = [r.goal for r in results if r.status != "completed"]
            if failed:
                tracer.emit(
                    Escalation,
                    step=step,
                    agent=st.branch,
                    reason="branch_failed",
                    detail={"join": join, "failed_branches": ",".join(failed)},
                )
                return st.result(
                    "escalated", f"branches {failed} toward join {join!r} could not finish"
                )
            st.current, st.plan = via if via in st.results else unmet[0], None
            return True
        return False

    async def _run_node(self, task: str, step: int, node: str, st: State, tracer: Tracer) -> None:
        if node in st.results:  # another branch already ran it
            st.current = node
            return
        pending = st.inflight.get(node)
        if pending is not None:  # another branch is running it right now: wait, don't repeat
            if await asyncio.shield(pending):
                st.current = node
            else:
                st.last_failed = node if node in st.excluded else None
            return
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        st.inflight[node] = done
        try:
            await self._execute(task, step, node, st, tracer)
        finally:
            del st.inflight[node]
            done.set_result(node in st.results)

    async def _execute(self, task: str, step: int, node: str, st: State, tracer: Tracer) -> None:
        attempt = st.failures.get(node, 0) + 1
        started = self.clock()
        error: BaseException | None = None
        value: Any = None
        try:
            async with asyncio.timeout(self.node_timeout_s):
                value = self.handlers[node](NodeContext(task, node, dict(st.results), st.facts))
                if inspect.isawaitable(value):
                    value = await value
        except Exception as exc:  # a node's failure is data for routing, never a crash
            error = exc
        latency = max(0.0, self.clock() - started)
        st.outcomes.append(
            Outcome(
                target=node,
                ok=error is None,
                latency_s=latency,
                error_type=type(error).__name__ if error else None,
            )
        )
        result, is_repr = _as_json(value) if error is None else (None, False)
        tracer.emit(
            NodeRunEvent,
            step=step,
            agent=node,
            node=node,
            attempt=attempt,
            ok=error is None,
            latency_s=latency,
            error_type=type(error).__name__ if error else None,
            error=str(error)[:300] if error else None,
            result=result,
            result_is_repr=is_repr,
        )
        if error is None:
            st.results[node] = value
            st.current = node
            st.taken.append(node)
            return
        st.failures[node] = attempt
        if attempt >= self.max_node_attempts:
            st.excluded.add(node)
            st.last_failed = node

    async def _no_path(
        self, task: str, step: int, st: State, tracer: Tracer, weights: Weights
    ) -> GraphResult | None:
        """Ask for goal demotion once; otherwise end the task in an explicit escalation."""
        options = [
            p
            for p in reachable_lesser_goals(self.graph, weights, st.current)
            if p.path[-1] != st.goal
        ]
        if st.demoted or st.branch is not None:
            options = []  # one demotion per task, none inside a branch: then a human decides
        chosen: Plan | None = None
        reason = "no feasible path to the goal and no reachable lesser goal"
        if options and self.demoter is not None:
            st.llm_calls += 1
            chosen, reason = await self._ask_demoter(task, step, st, options, tracer)
        elif options:
            chosen, reason = options[0], "first reachable lesser goal in declared order"
        if chosen is None:
            tracer.emit(
                Escalation,
                step=step,
                reason="no_feasible_path",
                detail={
                    "goal": st.goal,
                    "at": st.current,
                    "why": reason,
                    "excluded": sorted(st.excluded),
                },
            )
            return st.result("escalated", reason)
        tracer.emit(
            Escalation,
            step=step,
            reason="goal_demoted",
            detail={
                "from_goal": st.goal,
                "to_goal": chosen.path[-1],
                "why": reason,
                "llm": self.demoter is not None,
            },
        )
        st.goal, st.demoted, st.plan = chosen.path[-1], True, None
        return None

    async def _ask_demoter(
        self, task: str, step: int, st: State, options: list[Plan], tracer: Tracer
    ) -> tuple[Plan | None, str]:
        assert self.demoter is not None
        listing = "\n".join(f"- {p.path[-1]} (cost {p.cost:.3g})" for p in options)
        request = ModelRequest(messages=(
            Message.system(_DEMOTE),
            Message.user(f"Task: {task}\nUnreachable goal: {st.goal}\nLesser goals:\n{listing}"),
        ), max_tokens=24)  # fmt: skip
        started = self.clock()
        common: dict[str, Any] = {
            "step": step,
            "agent": st.branch,
            "purpose": "demote",
            "model": "demoter",
            "attempt": 1,
            "request_hash": request_hash("demoter", request),
        }
        try:
            completion: Completion = await self.demoter(request)
        except Exception as exc:  # a failed demotion is an escalation, not a crash
            tracer.emit(
                ModelCallEvent,
                **common,
                provider="demoter",
                ok=False,
                latency_s=self.clock() - started,
                error_type=type(exc).__name__,
                error=str(exc)[:300],
            )
            return None, f"the demoter failed ({type(exc).__name__}): escalate"
        tracer.emit(
            ModelCallEvent,
            **common,
            provider=completion.provider,
            ok=True,
            latency_s=self.clock() - started,
            input_tokens=completion.usage.input_tokens,
            output_tokens=completion.usage.output_tokens,
            response=completion.model_dump(mode="json"),
        )
        m = re.search(r"goal\s*:\s*([\w-]+)", completion.text, re.I)
        pick = m.group(1) if m else ""
        by_goal = {p.path[-1]: p for p in options}
        if pick in by_goal:
            return by_goal[pick], f"LLM chose {pick!r}"
        return None, f"LLM answered {completion.text.strip()[:80]!r}: escalate"


MONITOR_FAILURES = ("monitor_error", "monitor_timeout")
CLEARED = "cleared"
"""The ``signal`` of a health event saying an earlier signal no longer holds."""


def _as_json(value: Any) -> tuple[Any, bool]:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)[:300], True
    return value, False
