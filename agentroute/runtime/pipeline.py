"""`Pipeline`: declared agents, a router, a budget and a switching policy, run with one call.

A front door to the engine: the agents, their models, tools and handoffs compile into one
graph (`agentroute.engine.graph.from_agents`), the router chooses at its route, the switching
policy at each agent, and the engine runs it: one trace, one budget, and a model that fails
fails over to the agent's next model or a handoff agent with no LLM call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Literal

from agentroute.agents import Agent, check_handoffs
from agentroute.budget import Budget, EntropyPolicy, SwitchPolicy
from agentroute.engine import Engine, RunOutcome, from_agents
from agentroute.engine.choosers import Chooser, RouteChooser, SwitchChooser
from agentroute.engine.graph import ROUTE, check_labels
from agentroute.engine.loop import Decision
from agentroute.engine.replay import areplay
from agentroute.engine.run_stream import RunStream
from agentroute.engine.serving import Serving
from agentroute.errors import AgentrouteError, ConfigError, RoutingError, RunError
from agentroute.health import HealthMonitor
from agentroute.models import Model
from agentroute.models.embeddings import embed
from agentroute.routers import FirstRouter, ReasoningRouter, Router, SemanticRouter
from agentroute.runtime.result import Pause, Result, pause_of
from agentroute.trace import Sink, Trace
from agentroute.trace.diff import ReplayReport
from agentroute.types import Message


def router_from(router: str | Router | None, agents: Sequence[Agent]) -> Router:
    if router is None:
        return FirstRouter() if len(agents) == 1 else ReasoningRouter()
    if isinstance(router, str):
        if router == "reasoning":
            return ReasoningRouter()
        if router == "first":
            return FirstRouter()
        if router == "semantic":
            return SemanticRouter(embed=lambda texts: embed(texts).tolist())
        raise ConfigError(
            f"unknown router {router!r}; use 'reasoning', 'semantic', 'first' or a Router object"
        )
    if not isinstance(router, Router):
        raise ConfigError(f"{router!r} does not implement the Router protocol")
    return router


class Pipeline:
    """Run tasks over a set of agents.

    ``router_model`` serves routing and refining calls (default: the first agent's smallest
    model). ``trace_dir`` gets one JSONL file per run, its hash chain keyed by ``trace_key``
    when given. ``monitors`` score models, tools and
    agents from every attempt's outcome; what they mark down is routed around.
    """

    def __init__(
        self,
        agents: Sequence[Agent],
        *,
        router: str | Router | None = None,
        router_model: Model | None = None,
        budget_usd: float | None = None,
        budget: Budget | None = None,
        policy: SwitchPolicy | None = None,
        monitors: Sequence[HealthMonitor] = (),
        trace_dir: str | os.PathLike[str] | None = None,
        sinks: Sequence[Sink] = (),
        origin: str | None = None,
        trace_key: bytes | None = None,
        escalate_to: Literal["end", "person"] = "end",
    ) -> None:
        if not agents:
            raise ConfigError("a pipeline needs at least one agent")
        check_handoffs(agents)
        for a in agents:
            if not a.models and a.runner is None:
                raise ConfigError(f"agent {a.name!r} declares no model to run on")
        if budget is not None and budget_usd is not None:
            raise ConfigError("give either budget or budget_usd, not both")
        if budget is not None and not isinstance(budget, Budget):
            raise ConfigError(f"budget must be a Budget, not {budget!r}; for dollars: budget_usd=")
        self.agents = {a.name: a for a in agents}
        with_models = [a for a in agents if a.models]
        if router_model is None and not with_models:
            raise ConfigError("no agent declares a model; give router_model")
        self.graph = from_agents(agents)
        self.engine = Engine(
            self.graph, agents=self.agents, budget=budget or Budget(usd=budget_usd),
            escalate_to=escalate_to,
        )  # fmt: skip
        self._router = router_from(router, agents)
        self._router_model = router_model or with_models[0].models[0]
        self._policy: SwitchPolicy = policy or EntropyPolicy()
        self.engine.monitors = list(monitors)
        self.engine.origin = origin
        self.engine.trace_key = trace_key
        self.trace_dir = Path(trace_dir) if trace_dir is not None else None
        self.extra_sinks = list(sinks)
        self._configure()

    def _configure(self) -> None:
        """Hand the router, its model and the policy to the engine's choosers."""
        choosers: dict[str, Chooser] = {
            ROUTE: RouteChooser(self._router, self.agents, self._router_model)
        }
        for a in self.agents.values():
            if a.models:
                choosers[a.name] = SwitchChooser(a, self._policy)
        self.engine.choosers = choosers
        self.engine.refiner = self._router_model
        self.engine.router = self._router.name
        check_labels(self.engine.models())

    # what the engine holds: setting one on the pipeline sets the engine's
    @property
    def router(self) -> Router:
        return self._router

    @router.setter
    def router(self, value: Router) -> None:
        self._router = value
        self._configure()

    @property
    def router_model(self) -> Model:
        return self._router_model

    @router_model.setter
    def router_model(self, value: Model) -> None:
        self._router_model = value
        self._configure()

    @property
    def policy(self) -> SwitchPolicy:
        return self._policy

    @policy.setter
    def policy(self, value: SwitchPolicy) -> None:
        self._policy = value
        self._configure()

    @property
    def monitors(self) -> list[HealthMonitor]:
        return list(self.engine.monitors)

    @monitors.setter
    def monitors(self, value: Sequence[HealthMonitor]) -> None:
        self.engine.monitors = list(value)

    @property
    def serving(self) -> Serving:
        """Pooled models' live state and adapter routing (`agentroute.engine.serving`): set
        one with a ``quality`` scorer and ``features`` to teach adapter routing."""
        return self.engine.serving

    @serving.setter
    def serving(self, value: Serving) -> None:
        self.engine.serving = value

    @property
    def origin(self) -> str | None:
        return self.engine.origin

    @origin.setter
    def origin(self, value: str | None) -> None:
        self.engine.origin = value

    @property
    def budget(self) -> Budget:
        return self.engine.budget

    @budget.setter
    def budget(self, value: Budget) -> None:
        self.engine.budget = value

    @property
    def trace_dir(self) -> Path | None:
        return self.engine.trace_dir

    @trace_dir.setter
    def trace_dir(self, value: str | os.PathLike[str] | None) -> None:
        self.engine.trace_dir = Path(value) if value is not None else None

    @property
    def extra_sinks(self) -> list[Sink]:
        return list(self.engine.sinks)

    @extra_sinks.setter
    def extra_sinks(self, value: Sequence[Sink]) -> None:
        self.engine.sinks = list(value)

    def copy(self) -> Pipeline:
        """The same pipeline with an engine of its own (to change its budget or sinks) that
        shares the provider clients."""
        twin = object.__new__(Pipeline)
        twin.__dict__.update(self.__dict__)
        twin.engine = dataclasses.replace(self.engine)
        return twin

    def models(self) -> list[Model]:
        """Every model this pipeline may call (the router's first; multi-round agents' pool
        models last)."""
        agents = self.agents.values()
        pools = (p.model for a in agents for p in a.pool)
        return [self.router_model, *(m for a in agents for m in a.models), *pools]

    # -- entry points ---------------------------------------------------------------------
    def run(self, task: str | Sequence[Message], *, history: Sequence[Message] = ()) -> Result:
        """Run one task to completion (blocking). Inside an event loop use `arun`."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run_and_close(task, history))
        raise RunError("Pipeline.run() was called inside a running event loop; await arun()")

    async def _run_and_close(
        self, task: str | Sequence[Message], history: Sequence[Message]
    ) -> Result:
        return await self._closing(self.arun(task, history=history))

    async def _closing(self, work: Awaitable[Result]) -> Result:
        try:
            return await work
        finally:
            await self.aclose()

    async def arun(
        self, task: str | Sequence[Message], *, history: Sequence[Message] = ()
    ) -> Result:
        """Run one task: a message, with ``history`` (the conversation before it), or a
        conversation whose last message is the user's new one. Agents see the conversation;
        routers read its last turns with the new message (`RunState.routing_text`). Runs in
        the same event loop share the provider clients (and their connections); `aclose`
        closes this loop's clients when you are done. For a session that keeps its history,
        see `Conversation`."""
        text, before = split_conversation(task, history)
        return result_of(await self.engine.arun(text, history=before))

    def resume(self, pause: Pause, decision: Decision, why: str = "") -> Result:
        """Go on with a paused run once a person decided (see `aresume`)."""
        return asyncio.run(self._closing(self.aresume(pause, decision, why)))

    async def aresume(self, pause: Pause, decision: Decision, why: str = "") -> Result:
        """Go on with a paused run (`Result.paused`, here or loaded in another process).
        A tool call waiting for approval: ``"approve"`` runs it, ``"reject"`` declines it
        (the model reads that a person declined, and ``why``). An escalation
        (``escalate_to="person"``): ``"answer"`` completes the task with ``why`` as the
        answer. ``"cancel"`` ends the task either way. The run goes on under the same
        budget, counting what it spent before the pause."""
        return result_of(await self.engine.reopen(pause.checkpoint, decision, why=why).run())

    def stream(
        self, task: str | Sequence[Message], *, history: Sequence[Message] = ()
    ) -> RunStream[Result]:
        """Run one task as a stream: ``async for item in pipeline.stream(task)`` gives every
        decision as it is made (the trace events: route, reroute, model switch, tool call,
        budget) and the answers' text as it arrives (`TextDelta`); ``await .result()`` gives
        the `Result`. Answers stream from OpenAI-compatible and Anthropic servers, the
        budget held while they do; a stream that breaks mid-answer is continued, on the same
        model or another, from where it broke."""
        text, before = split_conversation(task, history)
        return RunStream(
            lambda listen: self.engine.open(text, listen=listen, history=before), result_of
        )

    async def aclose(self) -> None:
        """Close the provider clients that runs in this event loop opened."""
        await self.engine.endpoints.aclose()

    def replay(self, trace: Trace, *, live: bool = False, run_tools: bool = False) -> ReplayReport:
        """Run the recorded task again on recorded responses (no model call, no network, no
        tool run) and compare every decision with the recording. With ``live=True`` a request
        the trace does not hold goes to the real model (what-if replays with another router
        or budget); otherwise it fails with `ReplayMissError`."""
        return asyncio.run(self.areplay(trace, live=live, run_tools=run_tools))

    async def areplay(
        self, trace: Trace, *, live: bool = False, run_tools: bool = False
    ) -> ReplayReport:
        return await areplay(self.engine, trace, live=live, run_tools=run_tools)


def split_conversation(
    task: str | Sequence[Message], history: Sequence[Message]
) -> tuple[str, tuple[Message, ...]]:
    """(the new message, the conversation before it) from either form a run takes."""
    if isinstance(task, str):
        return task, tuple(history)
    messages = tuple(task)
    if history:
        raise ConfigError("give a conversation as the messages or as history=, not both")
    if not messages or not isinstance(messages[-1], Message) or messages[-1].role != "user":
        raise ConfigError("a conversation must end with the user's new message")
    return messages[-1].content, messages[:-1]


def result_of(outcome: RunOutcome) -> Result:
    """A run's `Result`; an escalated run raises what ended it (`RoutingError` when no agent
    fits, or the last failure when nothing was left to fail over to), trace attached."""
    st = outcome.state
    paused = pause_of(outcome)
    if outcome.status == "escalated":
        error = outcome.error
        if not isinstance(error, AgentrouteError):
            error = RoutingError(outcome.reason or "the task was escalated")
        error.trace = outcome.trace  # type: ignore[attr-defined]
        raise error
    order = {n: i for i, n in enumerate(st.agents)}
    answered = tuple(sorted(st.answers, key=lambda n: order.get(n, len(order))))
    return Result(
        output=""
        if paused
        else outcome.output
        if isinstance(outcome.output, str)
        else str(outcome.output),
        agents=answered or st.agents,
        models=tuple(st.models_used),
        usage=outcome.usage,
        cost_usd=outcome.cost_usd,
        model_calls=outcome.model_calls,
        wall_s=outcome.wall_s,
        trace=outcome.trace,
        trace_path=outcome.trace_path,
        route_reason=st.route_reason,
        paused=paused,
        data=outcome.data,
    )
