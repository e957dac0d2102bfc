"""`GraphRunner`: a hand-built `TaskGraph` of handler nodes, run by the engine with
self-healing routing.

Each step: monitors run in parallel, the graph is reweighted from their signals, Dijkstra plans
from where the task stands to the goal, and the next node runs. A node that fails is taken out
for the rest of the task and the path is recomputed with no LLM call (a ``reroute`` event).
Only when no feasible path remains is the LLM asked, once, to pick a reachable lesser goal;
without one the task ends in an explicit escalation. Nothing fails silently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from agentroute.agents import Agent
from agentroute.budget import Budget, EntropyPolicy, SwitchPolicy
from agentroute.engine import Engine, RunOutcome, from_task_graph
from agentroute.engine.choosers import Chooser, RouteChooser, SwitchChooser
from agentroute.engine.loop import Decision, Handler
from agentroute.engine.replay import areplay
from agentroute.errors import ConfigError
from agentroute.graph import TaskGraph
from agentroute.health import HealthMonitor
from agentroute.models import Model
from agentroute.routers import Router
from agentroute.runtime.graph_state import GraphResult
from agentroute.runtime.result import Pause, pause_of
from agentroute.trace import Sink, Trace
from agentroute.trace.diff import ReplayReport
from agentroute.types import Completer

DEMOTER = "demoter"


class GraphRunner:
    """Self-healing execution over a `TaskGraph` whose nodes run handlers or agents.

    A handler is a function of a `NodeContext`; an `Agent` (named like its node) answers on
    the model its switching ``policy`` picks, fails over between its models, and reads the
    results so far. ``routers`` put a `Router` at a node whose successors are agents
    (``router_model`` serves the routers that ask a model). ``monitors`` are shared across
    runs (their state is the fleet's health memory). ``demoter`` is the LLM used only when no
    feasible path exists: a `Model`, or a function ``async (ModelRequest) -> Completion``;
    either way its call is retried, budgeted and traced.
    """

    def __init__(
        self,
        graph: TaskGraph,
        handlers: Mapping[str, Handler | Agent],
        *,
        routers: Mapping[str, Router] | None = None,
        router_model: Model | None = None,
        policy: SwitchPolicy | None = None,
        monitors: Sequence[HealthMonitor] = (),
        demoter: Model | Completer | None = None,
        budget: Budget | None = None,
        max_node_attempts: int = 1,
        node_timeout_s: float = 60.0,
        monitor_timeout_s: float = 0.5,
        max_steps: int = 200,
        sinks: Sequence[Sink] = (),
        trace_dir: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        escalate_to: Literal["end", "person"] = "end",
    ) -> None:
        routers = dict(routers or {})
        runnable = {n for n in graph.nodes if n != graph.start} - set(routers)
        missing = sorted(runnable - set(handlers))
        if missing:
            raise ConfigError(f"no handler for node(s) {missing}")
        unknown = sorted(set(handlers) - set(graph.nodes))
        if unknown:
            raise ConfigError(f"handlers for nodes not in the graph: {unknown}")
        if max_node_attempts < 1:
            raise ConfigError("max_node_attempts must be >= 1")
        functions = {}
        if demoter is not None and not isinstance(demoter, Model):
            if not callable(demoter):
                raise ConfigError(f"demoter {demoter!r} is neither a Model nor a function")
            functions[DEMOTER] = demoter
            demoter = Model.function(DEMOTER)
        self.graph = graph
        self.handlers = {n: h for n, h in handlers.items() if not isinstance(h, Agent)}
        agents = {n: h for n, h in handlers.items() if isinstance(h, Agent)}
        compiled = from_task_graph(graph, agents, tuple(routers))
        choosers: dict[str, Chooser] = {
            n: SwitchChooser(a, policy or EntropyPolicy()) for n, a in agents.items() if a.models
        }
        if routers:
            models = [m for a in agents.values() for m in a.models]
            model = router_model or (models[0] if models else None)
            if model is None:
                raise ConfigError("routers need a router_model (no agent declares a model)")
            for n, r in routers.items():
                if not isinstance(r, Router):
                    raise ConfigError(f"{r!r} at node {n!r} does not implement the Router protocol")
                after = {s: agents[s] for s in compiled.successors[n]}
                choosers[n] = RouteChooser(r, after, model)
        self.engine = Engine(
            compiled,
            choosers=choosers,
            agents=agents,
            handlers=self.handlers,
            demoter=demoter,
            functions=functions,
            monitors=list(monitors),
            budget=budget or Budget(),
            max_node_attempts=max_node_attempts,
            node_timeout_s=node_timeout_s,
            monitor_timeout_s=monitor_timeout_s,
            max_steps=max_steps,
            sinks=list(sinks),
            trace_dir=None if trace_dir is None else Path(trace_dir),
            clock=clock,
            escalate_to=escalate_to,
        )

    @property
    def monitors(self) -> Sequence[HealthMonitor]:
        return self.engine.monitors

    def run(self, task: str) -> GraphResult:
        return asyncio.run(self._closing(self.arun(task)))

    async def _closing(self, work: Awaitable[GraphResult]) -> GraphResult:
        try:
            return await work
        finally:
            await self.engine.endpoints.aclose()

    async def arun(self, task: str) -> GraphResult:
        return graph_result(await self.engine.arun(task))

    async def aresume(self, pause: Pause, decision: Decision, why: str = "") -> GraphResult:
        """Go on with a paused run (`GraphResult.paused`, here or loaded in another process)
        once a person decided (`Engine.reopen`: for an escalation, ``answer`` with ``why`` as
        the answer, ``goal`` with ``why`` naming a lesser goal, or ``cancel``)."""
        return graph_result(await self.engine.reopen(pause.checkpoint, decision, why=why).run())

    def resume(self, pause: Pause, decision: Decision, why: str = "") -> GraphResult:
        return asyncio.run(self._closing(self.aresume(pause, decision, why)))

    def replay(self, trace: Trace) -> ReplayReport:
        """Run the traced task again with recorded node results, health signals and demoter
        answers (no handler, monitor or model is called) and compare every decision."""
        return asyncio.run(areplay(self.engine, trace))


def graph_result(outcome: RunOutcome) -> GraphResult:
    """A graph run's result (a paused one carries its `Pause`)."""
    st, main = outcome.state, outcome.state.main
    return GraphResult(
        status=outcome.status,
        goal=main.goal,
        path=tuple(main.taken),
        results=st.results,
        reroutes=st.reroutes,
        llm_calls=st.control_calls,
        trace=outcome.trace,
        reason=outcome.reason,
        cost_usd=outcome.cost_usd,
        paused=pause_of(outcome),
        output=main.output,
    )
