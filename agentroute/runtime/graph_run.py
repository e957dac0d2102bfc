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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from agentroute.budget import Budget
from agentroute.engine import Engine, from_task_graph
from agentroute.engine.loop import Handler
from agentroute.engine.replay import areplay
from agentroute.errors import ConfigError
from agentroute.graph import TaskGraph
from agentroute.health import HealthMonitor
from agentroute.models import Model
from agentroute.runtime.graph_state import GraphResult
from agentroute.trace import Sink, Trace
from agentroute.trace.diff import ReplayReport
from agentroute.types import Completer

DEMOTER = "demoter"


class GraphRunner:
    """Self-healing execution over a `TaskGraph` with user handlers for its nodes.

    ``monitors`` are shared across runs (their state is the fleet's health memory).
    ``demoter`` is the LLM used only when no feasible path exists: a `Model`, or a function
    ``async (ModelRequest) -> Completion``; either way its call is retried, budgeted and
    traced.
    """

    def __init__(
        self,
        graph: TaskGraph,
        handlers: Mapping[str, Handler],
        *,
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
        functions = {}
        if demoter is not None and not isinstance(demoter, Model):
            if not callable(demoter):
                raise ConfigError(f"demoter {demoter!r} is neither a Model nor a function")
            functions[DEMOTER] = demoter
            demoter = Model.function(DEMOTER)
        self.graph = graph
        self.handlers = dict(handlers)
        self.engine = Engine(
            from_task_graph(graph),
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
        )

    @property
    def monitors(self) -> Sequence[HealthMonitor]:
        return self.engine.monitors

    def run(self, task: str) -> GraphResult:
        return asyncio.run(self._run_and_close(task))

    async def _run_and_close(self, task: str) -> GraphResult:
        try:
            return await self.arun(task)
        finally:
            await self.engine.endpoints.aclose()

    async def arun(self, task: str) -> GraphResult:
        outcome = await self.engine.arun(task)
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
        )

    def replay(self, trace: Trace) -> ReplayReport:
        """Run the traced task again with recorded node results, health signals and demoter
        answers (no handler, monitor or model is called) and compare every decision."""
        return asyncio.run(areplay(self.engine, trace))
