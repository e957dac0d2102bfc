"""The engine: one loop for every kind of run.

A run is a walk over one compiled graph (`agentroute.engine.graph`). Each unit of a lane:

    monitors (parallel) -> reweight -> decide (pure) -> act (one I/O unit) -> outcomes
          ^                                                                    |
          +------------- health, ledger, learners read the outcomes -----------+

`Session.unit` runs one unit: the health monitors score what has been observed, the lane's
edge weights move (health factors, infinity for what failed or is down, the choices made so
far), `decide` returns what to do, and the session does it through its one caller (model and
tool calls with retry, deadline, budget and a trace event; handlers; programs). Every attempt
becomes an `Outcome` in the run's state, which the monitors read on the next unit: a model
endpoint that fails is reweighted exactly like a failing tool, and the next unit's plan goes
around it with no LLM call (a ``reroute`` event).

Drivers call `unit` and `join`: `Session.run` (asyncio: every lane of a fan-out is a task),
the LangGraph backend (one checkpointed super-step per unit of every lane) and the Ray fleet
(the same, on a worker, with the ledger's parent in an actor). One place opens a run
(`Engine.open`: ``run_start``) and one closes it (`Session.end`: ``run_end``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import math
import operator
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from agentroute.agents import Agent
from agentroute.budget import Account, Budget, Ledger
from agentroute.engine import rounds
from agentroute.engine.calls import ENDPOINT_DOWN, EndpointPool, ModelCaller, Recorded
from agentroute.engine.choosers import Chooser
from agentroute.engine.concurrency import all_or_cancel
from agentroute.engine.decide import (
    Choose,
    Demote,
    Escalate,
    Execute,
    FanOut,
    Finish,
    HandOff,
    Refine,
    decide,
)
from agentroute.engine.graph import (
    DONE,
    MAX_HANDOFFS,
    ROUTE,
    Choice,
    RunGraph,
    check_labels,
    handoff_tools,
    handoffs,
)
from agentroute.engine.serving import Serving
from agentroute.engine.state import MAIN, Lane, NodeContext, RunState, Turn
from agentroute.errors import (
    AgentrouteError,
    BudgetExceededError,
    ConfigError,
    ModelError,
    ResponseFormatError,
    RoutingError,
    RunError,
)
from agentroute.events import (
    DecisionEvent,
    Escalation,
    FanOutEvent,
    HandoffEvent,
    HealthSignalEvent,
    HealthStateEvent,
    ModelSwitch,
    OutputCheck,
    PathEvent,
    PauseEvent,
    RerouteEvent,
    ResumeEvent,
    ReweightEvent,
    RunEnd,
    RunStart,
    SignalState,
    TaskRetryEvent,
    TraceEvent,
)
from agentroute.graph import (
    GoalTree,
    Plan,
    Reweighter,
    Weights,
    node_factors,
    reachable_lesser_goals,
)
from agentroute.health import HealthContext, HealthMonitor, MonitorReport, run_monitors
from agentroute.models import FunctionEndpoint, Model, ModelEndpoint, prepare
from agentroute.models.replay import ReplayMissError
from agentroute.trace import JsonlSink, Redactor, Sink, Trace, Tracer
from agentroute.types import (
    Completer,
    Completion,
    HealthSignal,
    Message,
    ModelRequest,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

MAX_TOOL_ROUNDS = 6
MAX_OUTPUT_FIXES = 2
"""An answer that does not match the agent's output type goes back this many times."""
FIX = (
    "That answer does not match the required JSON schema: {}. Answer again with only the "
    "JSON object, matching the schema."
)
STREAMED = frozenset({"answer", "refine"})
"""The model calls whose text a streamed run passes on (routing calls are decisions: their
events are in the stream, not their text)."""
StreamItem = TextDelta | TraceEvent
MONITOR_FAILURES = ("monitor_error", "monitor_timeout")
CLEARED = "cleared"
"""The ``signal`` of a health event saying an earlier signal no longer holds."""
_STEP_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("step_key", default=None)
TASK_ATTEMPT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "task_attempt", default=None
)
"""Set by a runner that retries a task (the Ray fleet): the run's trace then says so."""
REFINE = (
    "You merge answers from several specialists into one reply for the user. Keep what is "
    "correct and useful. If the specialists disagree, say so in one sentence."
)
DEMOTE = (
    "The task's goal can no longer be reached. Choose the best acceptable lesser goal from "
    "the list, or escalate to a human. Answer in one line: 'Goal: <id>' or 'Goal: escalate'."
)
Handler = Callable[[NodeContext], Any]
Unit = Literal["go", "fork", "done"]
Changes = tuple[tuple[str, str, float, float], ...]


def step_key() -> str | None:
    """Inside a tool an agent called: ``<thread>:<agent>:<n>``, the same on every attempt at
    this tool call (a durable run resumed after a crash included), different for every other
    call: the idempotency key for tools with outside effects."""
    return _STEP_KEY.get()


@dataclass
class Engine:
    """A compiled graph and everything that acts on it. Built by the front doors
    (`Pipeline`, `GraphRunner`, `ColonyRunner`); shared by the runs they start."""

    graph: RunGraph
    choosers: Mapping[str, Chooser] = field(default_factory=dict)
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    agents: Mapping[str, Agent] = field(default_factory=dict)
    refiner: Model | None = None
    demoter: Model | None = None
    functions: Mapping[str, Completer] = field(default_factory=dict)
    """The Python functions serving ``Model.function`` models, by name."""
    monitors: Sequence[HealthMonitor] = ()
    budget: Budget = field(default_factory=Budget)
    account: Account | None = None
    """The parent of every run's ledger: an account held elsewhere (a fleet's escrow)."""
    router: str = "dijkstra"
    max_node_attempts: int = 1
    node_timeout_s: float = 60.0
    monitor_timeout_s: float = 0.5
    escalate_to: Literal["end", "person"] = "end"
    """``person``: an escalation of the task's main line pauses the run for a person to
    answer, pick a lesser goal or cancel (`Engine.reopen`) instead of ending it."""
    max_steps: int = 200
    sinks: Sequence[Sink] = ()
    trace_dir: Path | None = None
    trace_key: bytes | None = None
    """A key for the trace files' hash chain (an HMAC): see `agentroute.trace.chain`."""
    origin: str | None = None
    clock: Callable[[], float] = time.monotonic
    endpoints: EndpointPool = field(default_factory=EndpointPool)
    redactor: Redactor = field(default_factory=Redactor)
    serving: Serving = field(default_factory=Serving)
    """Pooled models' live state (in flight, TTFT per replica) and adapter routing, shared
    by the runs (`agentroute.engine.serving`)."""

    def __post_init__(self) -> None:
        check_labels(self.models())
        self.reweighter = Reweighter(self.graph.graph)
        self._trees: dict[str, tuple[Weights, GoalTree]] = {}
        self._reweighted: tuple[tuple[HealthSignal, ...], Reweighter, Changes] | None = None
        self.report: MonitorReport | None = None
        """The monitors' last report: the next one is the same object when nothing changed."""
        self._first_look: tuple[MonitorReport, tuple[SignalState, ...]] | None = None

    def first_look(
        self, report: MonitorReport, changed: Sequence[HealthSignal]
    ) -> tuple[SignalState, ...]:
        """The signals in force at a lane's first look, as traced: the same ones as the last
        new lane's when the report is the same (runs of one engine mostly start alike)."""
        cached = self._first_look
        if cached is not None and cached[0] is report:
            return cached[1]
        winner = report.winner
        states = tuple(_state(s, s is winner) for s in changed)
        self._first_look = (report, states)
        return states

    def reweighted(
        self,
        signals: tuple[HealthSignal, ...],
        factors: Callable[[tuple[HealthSignal, ...]], dict[str, float]],
    ) -> tuple[Reweighter, Changes]:
        """A new lane's weights under ``signals`` and how they differ from the base: a copy of
        the last ones computed for the very same signals (the monitors' state is shared by
        runs), otherwise computed afresh."""
        cached = self._reweighted
        if cached is not None and _same(cached[0], signals):
            return cached[1].clone(), cached[2]
        twin = self.reweighter.clone()
        diff = twin.apply(factors(signals))
        self._reweighted = (signals, twin.clone(), diff)
        return twin, diff

    def tree(self, goal: str, weights: Weights) -> GoalTree:
        """Shortest paths to ``goal`` under ``weights``: a copy of the last one built for the
        same weights (runs of one engine mostly start alike), otherwise a new one."""
        cached = self._trees.get(goal)
        if cached is not None and cached[0] == weights:
            return cached[1].copy()
        tree = GoalTree(self.graph.graph, goal, weights)
        self._trees[goal] = (dict(weights), tree.copy())
        return tree

    def models(self) -> list[Model]:
        """Every model a run may call."""
        out = [m for m in (self.refiner, self.demoter) if m is not None]
        out += [m for c in self.choosers.values() if isinstance(m := getattr(c, "model", None),
                                                                 Model)]  # fmt: skip
        out += [m for a in self.agents.values() for m in (*a.models, *a.fallbacks)]
        return out + [p.model for a in self.agents.values() for p in a.pool]

    def connect(self, model: Model) -> ModelEndpoint:
        if model.provider == "function":
            return FunctionEndpoint(model.name, self.functions[model.name])
        return self.endpoints.get(model)

    async def arun(self, task: str, **options: Any) -> RunOutcome:
        """Run ``task`` to its end: completed, demoted or escalated (errors raise, with the
        trace attached as ``exc.trace``). ``options`` are `open`'s."""
        return await self.open(task, **options).run()

    def open(
        self,
        task: str,
        *,
        live: bool = True,
        connector: Callable[[Model], ModelEndpoint] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        recorded: Recorded | None = None,
        monitors: Sequence[HealthMonitor] | None = None,
        state: RunState | None = None,
        spent: Mapping[str, tuple[float, int, int]] | None = None,
        resume: dict[str, Any] | None = None,
        thread_id: str | None = None,
        listen: Callable[[StreamItem], None] | None = None,
        history: Sequence[Message] = (),
    ) -> Session:
        """Open a run (``run_start``): its tracer and trace file, ledger, caller and state.
        ``state`` and ``spent`` (USD, tokens and calls, for the task under ``""`` and by agent)
        continue a run a driver checkpointed; ``resume`` is what the ``resume`` event says
        about it; ``thread_id`` names the run in tools' step keys (default: the run id);
        ``listen`` streams the run: it gets every trace event as it is emitted and the answers'
        text as it arrives (`TextDelta`); ``history`` is the conversation before ``task``."""
        if not isinstance(task, str) or not task.strip():
            raise ConfigError("the task must be a non-empty string")
        if state is not None:
            history = state.history
        history = check_history(history)
        tracer = Tracer(
            sinks=[_Borrowed(s) for s in self.sinks] if live else [], redactor=self.redactor
        )
        if listen is not None:
            tracer.listeners.append(listen)
        trace_path = None
        if self.trace_dir is not None and live:
            trace_path = self.trace_dir / f"run-{tracer.run_id}.jsonl"
            tracer.sinks.append(JsonlSink(trace_path, key=self.trace_key))
        start = tracer.emit(
            RunStart,
            task=task,
            agents=tuple(self.agents),
            router=self.router,
            budget_usd=self.budget.usd,
            nodes=self.graph.graph.nodes,
            origin=self.origin,
            streamed=listen is not None,
            history=tuple(m.model_dump(mode="json") for m in history),
            prices={m.label: _priced(m) for m in self.models()},
        )
        retry = TASK_ATTEMPT.get()
        if retry is not None and live:
            tracer.emit(TaskRetryEvent, **retry)
        if resume is not None:
            tracer.emit(ResumeEvent, **resume)
        ledger = Ledger(self.budget, parent=self.account)
        if state is None:
            g = self.graph.graph
            lanes = {MAIN: Lane(at=g.start, goal=g.goal, taken=[g.start])}
            state = RunState(task, lanes, history=history)
        for lane in state.lanes.values():  # a continued run's events hang under this trace's start
            lane.scope = start.seq
        caller = ModelCaller(
            tracer,
            ledger,
            connector=connector or self.connect,
            sleep=sleep,
            owns_endpoints=connector is not None,
            outcomes=state.outcomes,
            recorded=recorded,
            serving=self.serving,
        )
        watched = self.monitors if monitors is None else monitors
        caller.failed_attempts = state.failed_attempts
        session = Session(self, state, tracer, ledger, caller, trace_path, start, watched, live)
        session.thread_id = thread_id or tracer.run_id
        session.listen = listen
        for who, (usd, tokens, calls) in (spent or {}).items():
            session.ledger_for(who or None).carry(usd, tokens, calls)
        return session

    def reopen(
        self,
        checkpoint: Mapping[str, Any],
        decision: Decision,
        *,
        why: str = "",
        **options: Any,
    ) -> Session:
        """Go on with a paused run (`RunOutcome.checkpoint`, in this process or another)
        once a person decided its question: ``approve`` or ``reject`` a tool call (a rejected
        call is reported to the model, with ``why``); for an escalation, ``answer`` (``why``
        is the answer: the task completes with it) or ``goal`` (``why`` names the lesser goal
        to reach instead); or ``cancel`` the task (it ends escalated). The run goes on under
        a new run id, with a ``resume`` and a ``decision`` event, and what was spent before
        counts against the same budget."""
        if checkpoint.get("version") != 1 or not isinstance(checkpoint.get("state"), dict):
            raise ConfigError("not a paused run's checkpoint (version 1)")
        state = RunState.load(checkpoint["state"])
        question = state.question
        if question is None:
            raise ConfigError("this checkpoint is not waiting for a decision")
        allowed = DECISIONS[question["kind"]]
        if decision not in allowed:
            raise ConfigError(f"a {question['kind']} question takes {allowed}, not {decision!r}")
        if decision == "goal" and why not in question.get("goals", ()):
            raise ConfigError(f"{why!r} is not one of the lesser goals {question.get('goals')}")
        main = state.main
        state.question, main.status, main.done, main.reason = None, "running", False, ""
        if decision in ("approve", "reject"):
            state.decisions[question["key"]] = {"decision": decision, "why": why}
        elif decision == "answer":  # a person answered in the task's place
            main.output, main.at, main.status, main.done = why, main.goal, "completed", True
        elif decision == "goal":
            main.goal, main.demoted, main.tree, main.plan = why, True, None, None
        spent = {k: (float(v[0]), int(v[1]), int(v[2])) for k, v in checkpoint["spent"].items()}
        resume = {"thread_id": str(checkpoint.get("run_id", "")), "done_steps": main.step,
                  "spent_usd": spent.get("", (0.0, 0, 0))[0],
                  "model_calls": spent.get("", (0.0, 0, 0))[2]}  # fmt: skip
        session = self.open(state.task, state=state, spent=spent, resume=resume, **options)
        session.tracer.emit(DecisionEvent, question=question, decision=decision, why=why)
        if decision == "cancel":
            session.tracer.emit(Escalation, step=main.step, reason="cancelled_by_person",
                                detail={"why": why, "question": question["kind"]})  # fmt: skip
            main.status, main.done = "escalated", True
            main.reason = "a person cancelled the task" + (f": {why}" if why else "")
        return session


Decision = Literal["approve", "reject", "answer", "goal", "cancel"]
DECISIONS: dict[str, tuple[str, ...]] = {
    "approve_tool": ("approve", "reject", "cancel"),
    "escalation": ("answer", "goal", "cancel"),
}
"""What a person may decide, by the kind of question."""


class _Borrowed:
    """A sink the caller passed in: written to, never closed by a run (the caller owns it)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def write(self, record: dict[str, Any]) -> None:
        self.sink.write(record)

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, with everything a front door reports."""

    status: Literal["completed", "demoted", "escalated", "paused"]
    output: Any
    reason: str
    error: BaseException | None
    state: RunState
    trace: Trace
    trace_path: Path | None
    cost_usd: float
    usage: Usage
    model_calls: int
    wall_s: float
    checkpoint: dict[str, Any] | None = None
    """A paused run's checkpoint (`Session.checkpoint`)."""
    data: Any = None
    """The answer as its agent's ``output_type``, validated."""


class BranchFailedError(Exception):
    """A branch of a fan-out ended without reaching its goal: its siblings are stopped."""


class Session:
    """One run in one process: the state, and the tracer, ledger and caller that all its I/O
    goes through."""

    def __init__(
        self,
        engine: Engine,
        state: RunState,
        tracer: Tracer,
        ledger: Ledger,
        caller: ModelCaller,
        trace_path: Path | None,
        start: RunStart,
        monitors: Sequence[HealthMonitor],
        live: bool,
    ) -> None:
        self.engine, self.graph, self.state = engine, engine.graph, state
        self.tracer, self.ledger, self.caller = tracer, ledger, caller
        self.trace_path, self.start, self.monitors, self.live = trace_path, start, monitors, live
        self.ledgers: dict[str, Ledger] = {}
        self.thread_id = tracer.run_id
        self.listen: Callable[[StreamItem], None] | None = None
        self.started = time.perf_counter()
        for agent in engine.agents.values():
            if agent.budget is not None:
                self.ledgers[agent.name] = ledger.child(agent.budget)

    # -- the asyncio driver -------------------------------------------------------------------
    async def run(self) -> RunOutcome:
        """Drive the main lane (and its fan-outs, concurrently) to the end, then close."""
        try:
            if self.live:
                await prepare(self.engine.models())
            await _within(self.engine.budget.wall_s, self.drive(self.state.main))
        except BaseException as exc:
            self.end(exc)
            raise
        finally:
            await self.aclose()
        return self.end(None)

    async def drive(self, lane: Lane) -> None:
        while not lane.done:
            if await self.unit(lane) == "fork":
                branches = [self.state.lanes[k] for k in lane.waiting]
                with contextlib.suppress(BranchFailedError):  # the branch says why; join escalates
                    await all_or_cancel([self.drive(b) for b in branches], soft=BranchFailedError)
                self.join(lane)
        if lane.name is not None and lane.status != "completed":
            raise BranchFailedError(lane.name)

    # -- one unit -----------------------------------------------------------------------------
    async def unit(self, lane: Lane) -> Unit:
        """One decision of ``lane`` and the I/O it calls for."""
        tokens = self.tracer.enter(lane.scope, lane.at)
        try:
            return await self._unit(lane)
        finally:
            self.tracer.leave(tokens)

    async def _unit(self, lane: Lane) -> Unit:
        lane.step += 1
        if lane.step > self.engine.max_steps:
            raise RunError(f"the run did not reach a goal in {self.engine.max_steps} steps")
        weights, winner = await self._reweight(lane)
        plan = None
        if lane.at != lane.goal:
            if lane.tree is None or lane.tree.goal != lane.goal:
                lane.tree = self.engine.tree(lane.goal, weights)
            plan = lane.tree.path(lane.at)
        action = decide(lane, self.state, self.graph, weights, plan, winner)
        if plan is not None and isinstance(action, Choose | Execute | FanOut):
            self._note_plan(lane, plan)
        if isinstance(action, Choose | Execute):
            tokens = self.tracer.enter(None, action.node)
            try:
                if isinstance(action, Choose):
                    return await self._choose(lane, action.node)
                await self._execute(lane, action.node)
                return "go"
            finally:
                self.tracer.leave(tokens)
        if isinstance(action, FanOut):
            return self._fork(lane, action)
        if isinstance(action, Demote):
            return await self._demote(lane, action.options)
        if isinstance(action, Escalate):
            return self._escalate(lane, action.reason, action.detail)
        if isinstance(action, HandOff):
            return self._hand_off(lane, action.to)
        if isinstance(action, Refine):
            await self._refine(lane, action.agents)
            return "go"
        assert isinstance(action, Finish)
        lane.status, lane.done = ("demoted" if lane.demoted else "completed"), True
        return "done"

    def join(self, lane: Lane) -> None:
        """The branches of ``lane``'s fan-out are over: go on, or escalate if one failed."""
        branches = [self.state.lanes[k] for k in lane.waiting]
        lane.waiting = ()
        for b in branches:
            lane.taken.extend(n for n in b.taken if n not in lane.taken)
        bad = [b for b in branches if b.status != "completed"]
        if bad:
            names = [b.name for b in bad if b.status == "escalated"] or [b.name for b in bad]
            lane.last_error = next((b.last_error for b in bad if b.last_error), None)
            self.tracer.emit(
                Escalation,
                step=lane.step,
                agent=lane.name,
                reason="branch_failed",
                detail={
                    "join": lane.via or DONE,
                    "failed_branches": ",".join(str(n) for n in names),
                },
            )
            reason = "; ".join(b.reason for b in bad if b.reason)
            self._end_lane(
                lane, f"branches {names} could not finish" + (f": {reason}" if reason else "")
            )
            return
        if lane.via is None:  # the chosen agents answered
            lane.at = lane.goal
            if len(self.state.answers) == 1:  # one answer (a handoff stood in): nothing to merge
                lane.output = next(iter(self.state.answers.values()))
        else:
            lane.at = lane.via if lane.via in self.state.results else branches[0].goal
            lane.via = None
        lane.plan = None

    # -- health and weights -------------------------------------------------------------------
    async def _reweight(self, lane: Lane) -> tuple[Weights, HealthSignal | None]:
        signals: tuple[HealthSignal, ...] = ()
        winner = None
        st = self.state
        if self.monitors:
            ctx = HealthContext(
                task=st.task,
                step=lane.step,
                nodes=self.graph.names,
                outcomes=tuple(st.outcomes),
                now=self.engine.clock(),
                facts=dict(st.facts),
                branch=lane.name,
                run=self.tracer.run_id,
                events=self.tracer.events,
            )
            last = lane.report or self.engine.report
            report = await run_monitors(
                self.monitors, ctx, timeout_s=self.engine.monitor_timeout_s, last=last
            )
            winner, signals = report.winner, report.signals
            self.caller.signals = signals  # a pool routes around the replicas marked down
            if report is not lane.report:
                self._trace_signal_changes(lane, report)
                lane.report = self.engine.report = report
        if lane.reweighter is None and not st.excluded and not lane.choices:
            # a new run's first weights depend on the shared monitors' signals alone
            lane.reweighter, diff = self.engine.reweighted(
                signals, lambda sig: self._factors(lane, sig)
            )
            lane.weighed = (0, (), signals)
            if diff:
                self.tracer.emit(ReweightEvent, step=lane.step, agent=lane.name, changes=diff)
            return lane.reweighter.weights, winner
        if lane.reweighter is None:
            lane.reweighter = self.engine.reweighter.clone()
        key = (len(st.excluded), tuple(lane.choices.items()), signals)
        old = lane.weighed
        if old is not None and old[:2] == key[:2] and _same(signals, old[2]):
            return lane.reweighter.weights, winner
        lane.weighed = key
        diff = lane.reweighter.apply(self._factors(lane, signals))
        if diff:
            self.tracer.emit(ReweightEvent, step=lane.step, agent=lane.name, changes=diff)
            if lane.tree is not None:
                lane.tree.update(diff)
        return lane.reweighter.weights, winner

    def _factors(self, lane: Lane, signals: Sequence[HealthSignal]) -> dict[str, float]:
        """Health factors by node (a model variant also takes its endpoint's), infinity for
        what failed in this task, and the standby or infinite edges of the choices made."""
        factors = node_factors(signals, self.state.excluded)
        if factors and self.graph.aliased:
            for node, aliases in self.graph.aliased.items():
                x = 1.0
                for a in aliases:
                    x *= factors.get(a, 1.0)
                if x != 1.0:
                    factors[node] = factors.get(node, 1.0) * x
        for node, choice in lane.choices.items():
            factors.update(choice.factors(node, self.graph.successors[node]))
        return factors

    def _trace_signal_changes(self, lane: Lane, report: MonitorReport) -> None:
        """Trace the signals that matter (they move weights, claim priority or report a broken
        monitor) when they appear or change, and a ``cleared`` signal when one goes away."""
        current: dict[tuple[str, str], tuple[Any, ...]] = {}
        changed: list[HealthSignal] = []
        winner = report.winner
        for s in (*report.signals, *report.failures):
            if not (s.down or s.priority > 0 or s.multiplier != 1.0 or s.kind in MONITOR_FAILURES):
                continue
            key = (s.monitor, s.target)
            facts = (s.kind, s.priority, s.multiplier, s.down, s.action, s is winner)
            current[key] = facts
            if lane.signals.get(key) != facts:
                changed.append(s)
        if len(changed) > 1 and not lane.signals:  # a lane's first look: all in one event
            states = self.engine.first_look(report, changed)
            self.tracer.emit(HealthStateEvent, step=lane.step, agent=lane.name, signals=states)
            changed = []
        for s in changed:
            state = _state(s, s is winner)
            self.tracer.emit(HealthSignalEvent, step=lane.step, agent=lane.name, **dict(state))
        for monitor, target in lane.signals.keys() - current.keys():
            self.tracer.emit(
                HealthSignalEvent,
                step=lane.step,
                agent=lane.name,
                monitor=monitor,
                target=target,
                signal=CLEARED,
                priority=0.0,
                multiplier=1.0,
                down=False,
            )
        lane.signals = current

    def _note_plan(self, lane: Lane, plan: Plan) -> None:
        old = lane.plan
        remaining = old.path[old.path.index(lane.at) :] if old and lane.at in old.path else ()
        failed = lane.last_failed
        if failed is None and lane.replan:
            failed = self._passed_over(lane, plan)
        if failed is None and (old is None or lane.replan):
            if plan.path != remaining:
                self.tracer.emit(
                    PathEvent, step=lane.step, agent=lane.name, source=lane.at,
                    goal=lane.goal, path=plan.path, cost=plan.cost,
                )  # fmt: skip
        elif plan.path != remaining:
            self.state.reroutes += 1
            reason = (
                f"{failed} failed; its edges now weigh infinity"
                if failed
                else "health reweighting made another path cheaper"
            )
            self.tracer.emit(
                RerouteEvent, step=lane.step, agent=lane.name, failed=failed, reason=reason,
                old_path=remaining, new_path=plan.path, new_cost=plan.cost,
            )  # fmt: skip
        lane.last_failed, lane.replan, lane.plan = None, False, plan

    @staticmethod
    def _passed_over(lane: Lane, plan: Plan) -> str | None:
        """A choice the plan does not follow (a monitor took it down as it was made): the
        chosen node, which the plan's standby replaces."""
        for a, b in itertools.pairwise(plan.path):
            choice = lane.choices.get(a)
            if choice is not None and choice.chosen and b not in choice.chosen:
                return choice.chosen[0]
        return None

    # -- actions ------------------------------------------------------------------------------
    async def _choose(self, lane: Lane, node: str) -> Unit:
        spec = self.graph.nodes[node]
        if spec.kind == "agent" and node not in lane.turns:
            lane.turns[node] = self._new_turn(node, self._prompt())
        choice = await self.engine.choosers[node].choose(node, lane, self)
        lane.replan = True
        if not choice.chosen:
            lane.last_error = RoutingError(f"no agent fits this task: {self.state.route_reason}")
            self._end_lane(lane, str(lane.last_error))
            return "done"
        lane.choices[node] = choice
        return "go"

    def _new_turn(self, name: str, prompt: str) -> Turn:
        agent = self.engine.agents[name]
        if agent.pool:
            return Turn(name, name, rounds.opening(agent, self.state.history, prompt))
        system = agent.instructions or f"You are the {agent.name} agent: {agent.description}"
        return Turn(name, name, [Message.system(system), *self.state.history, Message.user(prompt)])

    def _prompt(self) -> str:
        """What an agent is asked: the task, and in a hand-built graph the results so far."""
        st = self.state
        if not self.graph.workflow or not st.results:
            return st.task
        import json

        results = json.dumps(st.results, ensure_ascii=False, default=repr)
        return f"{st.task}\n\nResults so far: {results}"

    async def _execute(self, lane: Lane, node: str) -> None:
        kind = self.graph.nodes[node].kind
        if kind == "model":
            await self._turn(lane, node)
        elif kind == "program":
            await self._program(lane, node)
        else:
            await self._handler(lane, node)

    async def _handler(self, lane: Lane, node: str) -> None:
        st = self.state
        if node in st.results:  # another branch already ran it
            lane.at = node
            return
        if len(st.lanes) == 1:  # no other lane could be running it
            await self._run_handler(lane, node)
            return
        pending = st.inflight.get(node)
        if pending is not None:  # another branch is running it right now: wait, don't repeat
            if await asyncio.shield(pending):
                lane.at = node
            else:
                lane.last_failed = node if node in st.excluded else None
            return
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        st.inflight[node] = done
        try:
            await self._run_handler(lane, node)
        finally:
            del st.inflight[node]
            done.set_result(node in st.results)

    async def _run_handler(self, lane: Lane, node: str) -> None:
        st = self.state
        attempt = st.failures.get(node, 0) + 1
        handler = self.engine.handlers[node]
        previous = self.graph.nodes[lane.at].agent or lane.at  # a model variant: its agent
        ctx = NodeContext(st.task, node, MappingProxyType(st.results), st.facts, previous)
        ok, value, error = await self.caller.handler(
            node, lambda: handler(ctx), step=lane.step, attempt=attempt,
            timeout_s=self.engine.node_timeout_s,
        )  # fmt: skip
        if ok:
            st.results[node] = value
            self._arrived(lane, node, value)
            return
        st.failures[node] = attempt
        if attempt >= self.engine.max_node_attempts:
            self._failed(lane, node, error)

    async def _program(self, lane: Lane, node: str) -> None:
        agent = self.engine.agents[node]
        assert agent.runner is not None
        try:
            output = await self.caller.program(
                agent.name, agent.runner, self.state.task, step=lane.step
            )
        except (BudgetExceededError, ReplayMissError):
            raise
        except RunError as exc:
            self.state.failures[node] = self.state.failures.get(node, 0) + 1
            self._failed(lane, node, exc)
            return
        self.state.answers[agent.name] = output
        self._arrived(lane, node, output)

    async def _turn(self, lane: Lane, node: str) -> None:
        """One unit of an agent's turn on a model variant: a pending tool call, or the next
        model call. A model that fails for good is taken out, and the next unit's plan moves
        the turn (its messages kept) to the agent's next model or a handoff agent."""
        spec = self.graph.nodes[node]
        assert spec.agent is not None and spec.model is not None
        agent, turn = self.engine.agents[spec.agent], lane.turns[spec.agent]
        if turn.node != node:
            self._failover(lane, turn, node)
        if turn.ready is not None:  # paid for while choosing; a typed agent's is checked
            ready, turn.ready = turn.ready, None
            if agent.check_output(ready) is None:
                self._answered(lane, node, agent, ready)
                return
        if agent.pool:
            await self._round(lane, node, agent, turn)
            return
        if turn.pending:
            await self._tool_call(lane, node, agent, turn)
            return
        if turn.rounds >= MAX_TOOL_ROUNDS:
            raise RunError(f"agent {agent.name!r} asked for tools {MAX_TOOL_ROUNDS} times in a row")
        offered = self._offered(lane, node, agent)
        transfers = self._transfers(lane, agent) if turn.rounds == 0 else {}
        request = ModelRequest(
            messages=tuple(turn.messages),
            max_tokens=agent.max_tokens,
            temperature=agent.temperature,
            tools=(
                *(t.spec for t in agent.tools if t.name in offered),
                *(spec for _, spec in transfers.values()),
            ),
            prefill=turn.partial,
            json_schema=agent.output_schema,
        )
        try:
            completion = await self.complete(
                spec.model, request, lane=lane, agent=agent.name, purpose="answer"
            )
        except ModelError as exc:
            turn.partial = exc.partial
            self._model_failed(lane, node, spec.model, exc)
            return
        turn.partial = ""
        if not completion.tool_calls:
            if agent.output_type is None or self._valid(lane, node, agent, turn, completion):
                self._answered(lane, node, agent, completion.text)
            return
        transfer = next((c for c in completion.tool_calls if c.name in transfers), None)
        if transfer is not None:
            self._hand_over(lane, agent, transfers[transfer.name][0], transfer)
            return
        turn.messages.append(Message.assistant(completion.text, completion.tool_calls))
        turn.pending, turn.rounds = list(completion.tool_calls), turn.rounds + 1

    def _model_failed(self, lane: Lane, node: str, model: Model, exc: ModelError) -> None:
        """The variant's call failed for good: it is taken out (and, unless the error was
        about the request alone, every variant on its endpoint)."""
        self.state.failures[node] = self.state.failures.get(node, 0) + 1
        endpoint = None if isinstance(exc, ENDPOINT_DOWN) else model.label
        self._failed(lane, node, exc, endpoint=endpoint)

    async def _round(self, lane: Lane, node: str, agent: Agent, turn: Turn) -> None:
        """One unit of a multi-round agent's turn (`agentroute.engine.rounds`): the pending
        sub-question goes to its pool model, or the agent's model writes its next action."""
        if turn.pending:
            failed = await rounds.consult(self, lane, agent, turn)
            if failed is not None:  # the pool model's endpoint is out of the task
                self.state.excluded.add(failed[0])
                lane.last_failed, lane.last_error = failed[0], failed[1]
            return
        model = self.graph.nodes[node].model
        assert model is not None
        offers = rounds.offered(agent, self.state, lane.report)
        final = rounds.is_final(agent, turn, offers)
        request = rounds.request(agent, turn, offers, final)
        try:
            completion = await self.complete(
                model, request, lane=lane, agent=agent.name, purpose="round"
            )
            answer = rounds.read(self.tracer, lane, agent, turn, completion.text, offers, final)
        except ModelError as exc:
            self._model_failed(lane, node, model, exc)
            return
        if answer is not None:
            self._answered(lane, node, agent, answer)

    async def _tool_call(self, lane: Lane, node: str, agent: Agent, turn: Turn) -> None:
        """The next tool call the model asked for: run it, or, for a tool that needs a
        person's approval nobody has given yet, pause the run (a branch of a fan-out cannot
        wait: there the call is declined)."""
        call = turn.pending[0]
        tool = agent.tool_named(call.name)
        key = f"{agent.name}:{len(turn.messages)}:{call.id}"
        decided = self.state.decisions.get(key)
        if tool is not None and tool.approval and decided is None:
            if lane.name is None:
                self._pause(lane, {"kind": "approve_tool", "key": key, "agent": agent.name,
                                   "tool": call.name, "arguments": call.arguments})  # fmt: skip
                return
            decided = {"decision": "reject", "why": "a parallel branch cannot wait for a person"}
        turn.pending.pop(0)
        offered = self._offered(lane, node, agent)
        refused = None
        if decided is not None and decided["decision"] != "approve":
            why = str(decided.get("why", ""))
            refused = "a person declined this call" + (f": {why}" if why else "")
        token = _STEP_KEY.set(f"{self.thread_id}:{agent.name}:{len(turn.messages)}")
        try:
            turn.messages.append(
                await self.caller.tool(
                    tool,
                    call,
                    step=lane.step,
                    agent=agent.name,
                    available=tool is None or tool.name in offered,
                    refused=refused,
                )
            )
        finally:
            _STEP_KEY.reset(token)

    def _pause(self, lane: Lane, question: dict[str, Any]) -> None:
        """Stop the run to wait for a person; `Engine.reopen` goes on once they decide."""
        self.state.question = question
        self.tracer.emit(PauseEvent, step=lane.step, agent=question.get("agent"),
                         question=question)  # fmt: skip
        lane.status, lane.done = "paused", True
        lane.reason = f"waiting for a person to decide: {question['kind']}"

    def _offered(self, lane: Lane, node: str, agent: Agent) -> set[str]:
        """The agent's tools whose edges from this variant do not weigh infinity."""
        if not agent.tools:
            return set()
        assert lane.reweighter is not None
        w = lane.reweighter.weights
        return {t.name for t in agent.tools if w[(node, t.name)] != math.inf}

    def _valid(
        self, lane: Lane, node: str, agent: Agent, turn: Turn, completion: Completion
    ) -> bool:
        """Check an answer against the agent's ``output_type``. A bad one goes back to the
        model with what is wrong (`MAX_OUTPUT_FIXES` times in a row), then this model is
        taken out of the task like one that failed: the next unit's plan moves the turn to the
        agent's next model."""
        error = agent.check_output(completion.text)
        model = self.graph.nodes[node].model
        label = model.label if model is not None else node
        self.tracer.emit(OutputCheck, step=lane.step, agent=agent.name, model=label,
                         ok=error is None, error=error)  # fmt: skip
        if error is None:
            turn.fixes = 0
            return True
        if turn.fixes >= MAX_OUTPUT_FIXES:
            turn.fixes = 0
            self.state.failures[node] = self.state.failures.get(node, 0) + 1
            self._failed(lane, node, ResponseFormatError(
                f"{label}: {MAX_OUTPUT_FIXES + 1} answers in a row did not match "
                f"{agent.output_type.__name__ if agent.output_type else 'the schema'}: {error}",
                model=label,
            ))  # fmt: skip
            return False
        turn.fixes += 1
        turn.messages += [Message.assistant(completion.text), Message.user(FIX.format(error))]
        return False

    def _transfers(self, lane: Lane, agent: Agent) -> dict[str, tuple[str, ToolSpec]]:
        """The handoff tools offered to ``agent``'s model (on its first call of the turn: a
        handoff is decided on reading the request, not after working on it), by tool name,
        with their target: none in a fan-out branch or after `MAX_HANDOFFS`, none back to an
        agent that handed the task on, none to an agent whose route edge weighs infinity."""
        if not agent.handoffs or lane.name is not None or len(lane.handed) >= MAX_HANDOFFS:
            return {}
        assert lane.reweighter is not None
        w = lane.reweighter.weights
        return {
            spec.name: (target, spec)
            for target, spec in handoff_tools(agent, self.engine.agents).items()
            if target not in lane.handed and w.get((ROUTE, target), math.inf) != math.inf
        }

    def _hand_over(self, lane: Lane, agent: Agent, to: str, call: ToolCall) -> None:
        """``agent``'s model handed the task to ``to``: the route's choice becomes ``to``
        and the lane goes back to the route, so the next step's plan leads there; ``to``
        starts as if the router had chosen it (the reason is in the trace)."""
        reason = _argument(call, "reason")
        self.tracer.emit(HandoffEvent, step=lane.step, agent=agent.name, to=to, reason=reason)
        lane.handed.append(agent.name)
        onward = handoffs(self.engine.agents, (to,))  # its own handoffs stay reachable
        lane.choices[ROUTE] = Choice((to,), tuple(a for a in onward if a not in lane.handed))
        lane.turns.pop(to, None)  # it starts as if the router had chosen it
        lane.at, lane.plan, lane.replan = ROUTE, None, True

    def _failover(self, lane: Lane, turn: Turn, node: str) -> None:
        old = self.graph.nodes[turn.node].model
        new = self.graph.nodes[node].model
        assert new is not None
        self.tracer.emit(
            ModelSwitch,
            step=lane.step,
            agent=turn.agent,
            policy="failover",
            from_model=old.label if old else None,
            to_model=new.label,
            reason=f"{turn.node} failed: the turn goes on on {new.label}"
            + (f", from the {len(turn.partial)} characters its answer had reached"
               if turn.partial else ""),
        )  # fmt: skip
        turn.node, turn.ready = node, None

    def _answered(self, lane: Lane, node: str, agent: Agent, text: str) -> None:
        self.state.answers[agent.name] = text
        if self.graph.workflow:
            self.state.results[agent.name] = text
        self._arrived(lane, node, text)

    def _arrived(self, lane: Lane, node: str, value: Any) -> None:
        lane.at, lane.output = node, value
        spec = self.graph.nodes[node]  # a model variant is taken as its agent's step
        lane.taken.append(spec.agent if spec.kind == "model" and spec.agent else node)

    def _failed(
        self, lane: Lane, node: str, error: BaseException | None, endpoint: str | None = None
    ) -> None:
        """Take ``node`` (and, for an endpoint that is down, every variant on it) out of this
        task: its edges weigh infinity from the next unit on."""
        self.state.excluded.add(node)
        if endpoint is not None:
            self.state.excluded.add(endpoint)
        lane.last_failed, lane.last_error = node, error

    def _fork(self, lane: Lane, action: FanOut) -> Unit:
        join = action.join or DONE
        fan = self.tracer.emit(
            FanOutEvent,
            step=lane.step,
            agent=lane.name,
            join=join,
            source=lane.at,
            branches=action.branches,
        )
        keys = []
        for name in action.branches:
            if action.join is None:
                b = self.state.fork(lane, lane.goal, name, only=name)
                # the other chosen agents have lanes of their own: they are no standbys here
                standby = handoffs(self.engine.agents, (name,))
                b.choices[action.source] = Choice(
                    (name,),
                    tuple(x for x in standby if x not in action.branches),
                    tuple(x for x in standby if x in action.branches),
                )
            else:
                b = self.state.fork(lane, name, name)
                b.scope = fan.seq
            keys.append(b.key)
        lane.waiting, lane.via = tuple(keys), action.via
        return "fork"

    async def _demote(self, lane: Lane, options: tuple[Plan, ...]) -> Unit:
        chosen: Plan | None = None
        demoter = self.engine.demoter
        if demoter is not None:
            self.state.control_calls += 1
            chosen, reason = await self._ask_demoter(lane, demoter, options)
        else:
            chosen, reason = options[0], "first reachable lesser goal in declared order"
        if chosen is None:
            return self._escalate(
                lane,
                "no_feasible_path",
                {
                    "goal": lane.goal,
                    "at": lane.at,
                    "why": reason,
                    "excluded": sorted(self.state.excluded),
                },
            )
        self.tracer.emit(
            Escalation,
            step=lane.step,
            reason="goal_demoted",
            detail={
                "from_goal": lane.goal,
                "to_goal": chosen.path[-1],
                "why": reason,
                "llm": demoter is not None,
            },
        )
        lane.goal, lane.demoted, lane.plan = chosen.path[-1], True, None
        return "go"

    async def _ask_demoter(
        self, lane: Lane, demoter: Model, options: tuple[Plan, ...]
    ) -> tuple[Plan | None, str]:
        import re

        listing = "\n".join(f"- {p.path[-1]} (cost {p.cost:.3g})" for p in options)
        request = ModelRequest(
            messages=(
                Message.system(DEMOTE),
                Message.user(
                    f"Task: {self.state.task}\nUnreachable goal: {lane.goal}\n"
                    f"Lesser goals:\n{listing}"
                ),
            ),
            max_tokens=24,
        )
        try:
            completion = await self.complete(
                demoter, request, lane=lane, agent=lane.name, purpose="demote"
            )
        except Exception as exc:  # a failed demotion is an escalation, not a crash
            return None, f"the demoter failed ({type(exc).__name__}): escalate"
        m = re.search(r"goal\s*:\s*([\w-]+)", completion.text, re.I)
        pick = m.group(1) if m else ""
        by_goal = {p.path[-1]: p for p in options}
        if pick in by_goal:
            return by_goal[pick], f"LLM chose {pick!r}"
        return None, f"LLM answered {completion.text.strip()[:80]!r}: escalate"

    def _hand_off(self, lane: Lane, to: str) -> Unit:
        old = lane.plan.path if lane.plan is not None else ()
        self.state.reroutes += 1
        self.tracer.emit(
            RerouteEvent, step=lane.step, agent=lane.name, failed=lane.last_failed or lane.only,
            reason=f"{lane.only} has no way left; {to} answers for it in its own branch",
            old_path=old, new_path=(to,), new_cost=0.0,
        )  # fmt: skip
        lane.status, lane.done = "completed", True
        return "done"

    def _escalate(self, lane: Lane, reason: str, detail: dict[str, Any]) -> Unit:
        agent = lane.name if reason == "health_escalation" else None
        self.tracer.emit(Escalation, step=lane.step, agent=agent, reason=reason, detail=detail)
        if reason == "health_escalation":
            text = f"{detail['monitor']} raised {detail['signal']} on {detail['target']}"
        else:
            text = str(detail.get("why", reason))
        if self.engine.escalate_to == "person" and lane.name is None:
            w = lane.reweighter.weights if lane.reweighter is not None else {}
            reachable = reachable_lesser_goals(self.graph.graph, w, lane.at) if w else []
            goals = [p.path[-1] for p in reachable if p.path[-1] != lane.goal]
            self._pause(lane, {"kind": "escalation", "key": f"escalation:{lane.step}",
                               "reason": reason, "why": text, "goals": goals})  # fmt: skip
            return "done"
        self._end_lane(lane, text)
        return "done"

    def _end_lane(self, lane: Lane, reason: str) -> None:
        lane.status, lane.reason, lane.done = "escalated", reason, True

    async def _refine(self, lane: Lane, names: tuple[str, ...]) -> None:
        order = {n: i for i, n in enumerate(self.state.agents)}
        names = tuple(sorted(names, key=lambda n: order.get(n, len(order))))
        answers = self.state.answers
        body = "\n\n".join(f"[{n}] {answers[n]}" for n in names)
        refiner = self.engine.refiner
        assert refiner is not None
        request = ModelRequest(
            messages=(
                Message.system(REFINE),
                Message.user(f"User request: {self.state.task}\n\nSpecialist answers:\n{body}"),
            ),
            max_tokens=max(self.engine.agents[n].max_tokens for n in names),
        )
        completion = await self.complete(
            refiner, request, lane=lane, agent="refiner", purpose="refine"
        )
        lane.output = completion.text

    # -- what choosers use --------------------------------------------------------------------
    async def complete(
        self,
        model: Model,
        request: ModelRequest,
        *,
        lane: Lane,
        agent: str | None,
        purpose: str,
    ) -> Completion:
        """One model call through the run's caller, booked in the agent's ledger; answers
        (not routing calls) are streamed to a streamed run's listener."""
        listen = self.listen
        completion = await self.caller.call(
            model,
            request,
            step=lane.step,
            agent=agent,
            purpose=purpose,
            ledger=self.ledger_for(agent),
            listen=None
            if listen is None or purpose not in STREAMED
            else lambda text: listen(TextDelta(text, agent, model.label, purpose, lane.step)),
        )
        st = self.state
        st.usage = st.usage + completion.usage
        if model.label not in st.models_used:
            st.models_used.append(model.label)
        return completion

    def snapshot(self) -> dict[str, Any]:
        """The run's state as data (`RunState.dump`), counters included: a driver's
        checkpoint."""
        self.state.failed_attempts = self.caller.failed_attempts
        return self.state.dump()

    def spent(self) -> dict[str, tuple[float, int, int]]:
        """What the task (under ``""``) and each agent with a sub-budget spent so far (USD,
        tokens, calls): what a driver checkpoints so a resumed run's ledgers start from it."""
        ledgers = {"": self.ledger, **self.ledgers}
        return {k: (x.spent_usd, x.spent_tokens, x.calls) for k, x in ledgers.items()}

    def ledger_for(self, agent: str | None) -> Ledger:
        """The agent's sub-budget when it has one, the task's ledger otherwise."""
        return self.ledgers.get(agent or "", self.ledger)

    # -- closing ------------------------------------------------------------------------------
    def end(self, exc: BaseException | None) -> RunOutcome:
        """Close the run: ``run_end``, the trace sealed, the endpoints this run opened
        closed."""
        main, st = self.state.main, self.state
        wall = time.perf_counter() - self.started
        totals: dict[str, Any] = dict(
            cost_usd=self.ledger.spent_usd,
            input_tokens=st.usage.input_tokens,
            output_tokens=st.usage.output_tokens,
            model_calls=self.caller.model_calls,
            wall_s=wall,
        )
        if exc is None and main.status == "paused":
            self.tracer.emit(RunEnd, status="paused", **totals)
        elif exc is None and main.status != "escalated":
            self.tracer.emit(RunEnd, status="ok", output=_text(main.output), **totals)
        else:
            error = exc if exc is not None else main.last_error
            self.tracer.emit(
                RunEnd,
                status="error",
                error_type=type(error).__name__ if error else "Escalation",
                error=str(error)[:500] if error else main.reason[:500],
                output=getattr(exc, "partial", None),
                **totals,
            )
            if isinstance(exc, AgentrouteError):
                exc.trace = self.tracer.trace  # type: ignore[attr-defined]
        self.tracer.close()
        status: Literal["completed", "demoted", "escalated", "paused"] = (
            "escalated"
            if main.status == "escalated"
            else "paused"
            if main.status == "paused"
            else "demoted"
            if main.demoted
            else "completed"
        )
        return RunOutcome(
            status=status,
            output=main.output,
            reason=main.reason,
            error=main.last_error,
            state=st,
            trace=self.tracer.trace,
            trace_path=self.trace_path,
            cost_usd=self.ledger.spent_usd,
            usage=st.usage,
            model_calls=self.caller.model_calls,
            wall_s=wall,
            checkpoint=self.checkpoint() if status == "paused" else None,
            data=self._typed(main.output) if status in ("completed", "demoted") else None,
        )

    def _typed(self, output: Any) -> Any:
        """The answer as its agent's ``output_type`` (one agent answered, and has one)."""
        answers = self.state.answers
        if len(answers) != 1 or not isinstance(output, str):
            return None
        name, text = next(iter(answers.items()))
        agent = self.engine.agents.get(name)
        if agent is None or agent.output_type is None or text != output:
            return None
        try:  # a program's answer is not checked on the way: it may not be the type
            return agent.output_type.model_validate_json(output)
        except ValueError:
            return None

    def checkpoint(self) -> dict[str, Any]:
        """Everything a paused run needs to go on in another process (`Engine.reopen`):
        plain JSON data, never code."""
        return {"version": 1, "task": self.state.task, "run_id": self.tracer.run_id,
                "state": self.snapshot(), "spent": self.spent()}  # fmt: skip

    async def aclose(self) -> None:
        await self.caller.aclose()


def _state(s: HealthSignal, winner: bool) -> SignalState:
    return SignalState(
        monitor=s.monitor, target=s.target, signal=s.kind, priority=s.priority,
        multiplier=s.multiplier, down=s.down, action=s.action, winner=winner, detail=s.detail,
    )  # fmt: skip


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """The very same objects in the same order (monitors hand back unchanged signals)."""
    return a is b or (len(a) == len(b) and all(map(operator.is_, a, b)))


def _priced(model: Model) -> dict[str, Any]:
    """A model's price as the trace states it, with where it came from."""
    price = model.price
    return {"in": price.input_per_mtok, "out": price.output_per_mtok, "source": model.price_source}


def check_history(history: Sequence[Message]) -> tuple[Message, ...]:
    """A conversation's messages, checked: `Message` values of the user, the assistant or
    the system (a tool's answer belongs to the turn that asked for it, not to the history)."""
    out = tuple(history)
    for i, m in enumerate(out):
        if not isinstance(m, Message):
            raise ConfigError(f"history[{i}] is a {type(m).__name__}, not a Message")
        if m.role == "tool" or m.tool_calls:
            raise ConfigError(f"history[{i}]: tool calls and results cannot be history")
    return out


def _argument(call: ToolCall, name: str) -> str:
    """One string argument of a tool call ("" when missing or unreadable)."""
    import json

    try:
        value = json.loads(call.arguments or "{}").get(name, "")
    except (ValueError, AttributeError):
        return ""
    return value[:500] if isinstance(value, str) else ""


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    import json

    try:
        return json.dumps(value, ensure_ascii=False)[:2000]
    except (TypeError, ValueError):
        return repr(value)[:2000]


async def _within(wall_s: float | None, work: Awaitable[None]) -> None:
    """Enforce the task's wall-time budget as a typed budget error."""
    if wall_s is None:
        await work
        return
    try:
        async with asyncio.timeout(wall_s):
            await work
    except TimeoutError as exc:
        raise BudgetExceededError(
            f"the task ran past its wall-time budget of {wall_s:g}s",
            limit=wall_s,
            spent=wall_s,
            requested=0.0,
            unit="seconds",
        ) from exc
