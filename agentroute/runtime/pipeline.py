"""`Pipeline`: declared agents, a router, a budget and a switching policy, run with one call.

One run: route the task to agent(s), let each answer on the tier its policy picks (running
its tools when the model asks), merge several answers with a refining call, and record every
decision in the trace.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from agentroute.agents import Agent, check_handoffs
from agentroute.budget import Budget, EntropyPolicy, Ledger, SwitchPolicy
from agentroute.errors import (
    AgentrouteError,
    BudgetExceededError,
    ConfigError,
    RoutingError,
    RunError,
    ToolError,
    TraceError,
)
from agentroute.events import (
    AgentRunEvent,
    Escalation,
    ModelCallEvent,
    ModelSwitch,
    RouteEvent,
    RunEnd,
    RunStart,
    TaskRetryEvent,
    ToolCallEvent,
)
from agentroute.models import Model, ModelEndpoint, connect, prepare
from agentroute.models.embeddings import embed
from agentroute.models.replay import Recording, ReplayEndpoint, ReplayMissError
from agentroute.routers import (
    Candidate,
    FirstRouter,
    ReasoningRouter,
    Router,
    SemanticRouter,
    normalize,
    sigma,
)
from agentroute.runtime.calls import EndpointPool, ModelCaller
from agentroute.runtime.candidates import record_route
from agentroute.runtime.concurrency import all_or_cancel
from agentroute.runtime.result import Result
from agentroute.trace import JsonlSink, Redactor, Sink, Trace, Tracer, replaying
from agentroute.trace.diff import ReplayReport, compare, compare_concurrent
from agentroute.types import Completion, Message, ModelRequest, Usage

MAX_TOOL_ROUNDS = 6
TASK_ATTEMPT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "task_attempt", default=None
)
"""Set by a runner that retries a task (the Ray fleet): the run's trace then says so."""
_REFINE = (
    "You merge answers from several specialists into one reply for the user. Keep what is "
    "correct and useful. If the specialists disagree, say so in one sentence."
)


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
    model). ``trace_dir`` gets one JSONL file per run.
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
        trace_dir: str | os.PathLike[str] | None = None,
        sinks: Sequence[Sink] = (),
        origin: str | None = None,
    ) -> None:
        if not agents:
            raise ConfigError("a pipeline needs at least one agent")
        check_handoffs(agents)
        for a in agents:
            if not a.models and a.runner is None:
                raise ConfigError(f"agent {a.name!r} declares no model to run on")
        if budget is not None and budget_usd is not None:
            raise ConfigError("give either budget or budget_usd, not both")
        self.agents = {a.name: a for a in agents}
        self.router = router_from(router, agents)
        with_models = [a for a in agents if a.models]
        if router_model is None and not with_models:
            raise ConfigError("no agent declares a model; give router_model")
        self.router_model = router_model or with_models[0].models[0]
        self.budget = budget or Budget(usd=budget_usd)
        self.policy: SwitchPolicy = policy or EntropyPolicy()
        self.trace_dir = Path(trace_dir) if trace_dir is not None else None
        self.extra_sinks = list(sinks)
        self.origin = origin
        # built once: it scans the environment for secrets and compiles their pattern
        self._redactor = Redactor()
        self.endpoints = EndpointPool()

    def models(self) -> list[Model]:
        """Every model this pipeline may call (the router's first)."""
        return [self.router_model, *(m for a in self.agents.values() for m in a.models)]

    # -- entry points ---------------------------------------------------------------------
    def run(self, task: str) -> Result:
        """Run one task to completion (blocking). Inside an event loop use `arun`."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run_and_close(task))
        raise RunError("Pipeline.run() was called inside a running event loop; await arun()")

    async def _run_and_close(self, task: str) -> Result:
        try:
            return await self.arun(task)
        finally:
            await self.aclose()

    async def arun(self, task: str) -> Result:
        """Run one task. Runs in the same event loop share the provider clients (and their
        connections); `aclose` closes this loop's clients when you are done."""
        return await self._arun(task, connector=self.endpoints.get, sleep=None, live=True)

    async def aclose(self) -> None:
        """Close the provider clients that runs in this event loop opened."""
        await self.endpoints.aclose()

    def open_trace(self, task: str, *, live: bool = True) -> tuple[Tracer, Path | None, RunStart]:
        """A run's tracer (with its JSONL file when ``trace_dir`` is set and the run is live),
        its ``run_start`` event and, for a retried task, its ``task_retry`` event."""
        tracer = Tracer(sinks=list(self.extra_sinks) if live else [], redactor=self._redactor)
        trace_path = None
        if self.trace_dir is not None and live:
            trace_path = self.trace_dir / f"run-{tracer.run_id}.jsonl"
            tracer.sinks.append(JsonlSink(trace_path))
        start = tracer.emit(
            RunStart,
            task=task,
            agents=tuple(self.agents),
            router=self.router.name,
            budget_usd=self.budget.usd,
            origin=self.origin,
        )
        retry = TASK_ATTEMPT.get()
        if retry is not None and live:
            tracer.emit(TaskRetryEvent, **retry)
        return tracer, trace_path, start

    def replay(self, trace: Trace, *, live: bool = False) -> ReplayReport:
        """Run the recorded task again on recorded responses (no model call, no network) and
        compare every decision with the recording. With ``live=True`` a request the trace
        does not hold goes to the real model (what-if replays with another router or budget);
        otherwise it fails with `ReplayMissError`."""
        return asyncio.run(self.areplay(trace, live=live))

    async def areplay(self, trace: Trace, *, live: bool = False) -> ReplayReport:
        starts = trace.events(RunStart)
        if not starts:
            raise TraceError("the trace has no run_start event to replay")
        recording = Recording(trace.events(ModelCallEvent))

        def connector(model: Model) -> ModelEndpoint:
            return ReplayEndpoint(
                recording,
                model.label,
                model.provider,
                model.name,
                live=connect(model) if live else None,
            )

        async def no_wait(_: float) -> None:
            return None

        programs: dict[str, deque[str]] = {}
        for e in trace.events(AgentRunEvent):
            if e.ok and e.agent is not None and e.output is not None:
                programs.setdefault(e.agent, deque()).append(e.output)
        try:
            with replaying():
                replayed = (
                    await self._arun(
                        starts[0].task,
                        connector=connector,
                        sleep=no_wait,
                        live=False,
                        programs=programs,
                    )
                ).trace
        except AgentrouteError as exc:
            replayed = exc.trace  # type: ignore[attr-defined]
        if any(len(r.chosen) > 1 for r in trace.events(RouteEvent)):
            return compare_concurrent(trace, replayed)  # its agents ran in parallel
        return compare(trace, replayed)

    async def _arun(
        self,
        task: str,
        *,
        connector: Callable[[Model], ModelEndpoint],
        sleep: Callable[[float], Awaitable[None]] | None,
        live: bool,
        programs: dict[str, deque[str]] | None = None,
    ) -> Result:
        if not isinstance(task, str) or not task.strip():
            raise ConfigError("the task must be a non-empty string")
        started = time.perf_counter()
        tracer, trace_path, start = self.open_trace(task, live=live)
        ledger = Ledger(self.budget)
        caller = ModelCaller(
            tracer, ledger, connector=connector, sleep=sleep, owns_endpoints=not live
        )
        run = _Run(self, caller, task)
        if programs is not None:  # a replay: programs answer from the recording
            run.recorded_programs = {
                a.name: programs.get(a.name, deque())
                for a in self.agents.values()
                if a.runner is not None
            }
        try:
            if live:
                await prepare(self.models())
            with tracer.scope(start):
                output = await _within(self.budget.wall_s, run.execute())
        except BaseException as exc:
            tracer.emit(
                RunEnd,
                status="error",
                error_type=type(exc).__name__,
                error=str(exc)[:500],
                output=getattr(exc, "partial", None),
                cost_usd=ledger.spent_usd,
                input_tokens=run.usage.input_tokens,
                output_tokens=run.usage.output_tokens,
                model_calls=caller.model_calls,
                wall_s=time.perf_counter() - started,
            )
            if isinstance(exc, AgentrouteError):
                exc.trace = tracer.trace  # type: ignore[attr-defined]
            raise
        else:
            tracer.emit(
                RunEnd,
                status="ok",
                output=output,
                cost_usd=ledger.spent_usd,
                input_tokens=run.usage.input_tokens,
                output_tokens=run.usage.output_tokens,
                model_calls=caller.model_calls,
                wall_s=time.perf_counter() - started,
            )
        finally:
            await caller.aclose()
            tracer.close()
        wall = time.perf_counter() - started
        return Result(
            output=output,
            agents=run.chosen,
            models=tuple(run.models_used),
            usage=run.usage,
            cost_usd=ledger.spent_usd,
            model_calls=caller.model_calls,
            wall_s=wall,
            trace=tracer.trace,
            trace_path=trace_path,
            route_reason=run.route_reason,
        )


class _Run:
    """The mutable state of one task while it runs."""

    def __init__(self, pipeline: Pipeline, caller: ModelCaller, task: str) -> None:
        self.p = pipeline
        self.caller = caller
        self.tracer = caller.tracer
        self.task = task
        self.step = 0
        self.usage = Usage()
        self.models_used: list[str] = []
        self.chosen: tuple[str, ...] = ()
        self.ledgers: dict[str, Ledger] = {}
        self.route_reason = ""
        self.route_event: RouteEvent | None = None
        self.recorded_programs: dict[str, deque[str]] = {}

    def _ledger_for(self, agent: str | None) -> Ledger | None:
        """An agent with its own budget books its calls in a child of the task's ledger."""
        spec = self.p.agents.get(agent) if agent else None
        if spec is None or spec.budget is None:
            return None
        if spec.name not in self.ledgers:
            self.ledgers[spec.name] = self.caller.ledger.child(spec.budget)
        return self.ledgers[spec.name]

    def _next_step(self) -> int:
        self.step += 1
        return self.step

    async def _complete(
        self, model: Model, request: ModelRequest, agent: str | None, purpose: str = "answer"
    ) -> Completion:
        completion = await self.caller.call(
            model,
            request,
            step=self._next_step(),
            agent=agent,
            purpose=purpose,
            ledger=self._ledger_for(agent),
        )
        self.usage = self.usage + completion.usage
        if model.label not in self.models_used:
            self.models_used.append(model.label)
        return completion

    async def execute(self) -> str:
        chosen = await self.route()
        assert self.route_event is not None
        with self.tracer.scope(self.route_event):
            answers = await all_or_cancel([self.run_agent(self.p.agents[n]) for n in chosen])
            if len(answers) == 1:
                return answers[0]
            return await self.refine(chosen, answers)

    async def route(self) -> tuple[str, ...]:
        """Ask the router for the agents; none fitting ends the task in an escalation."""
        candidates = [
            Candidate(a.name, a.description, tuple(a.examples)) for a in self.p.agents.values()
        ]

        async def router_complete(req: ModelRequest) -> Completion:
            return await self._complete(self.p.router_model, req, None, "route")

        decision = await self.p.router.route(self.task, candidates, router_complete)
        unknown = [c for c in decision.chosen if c not in self.p.agents]
        if unknown:
            raise RunError(f"router {self.p.router.name!r} chose unknown agents {unknown}")
        self.route_event = record_route(self.tracer, decision, candidates, self.step)
        self.chosen, self.route_reason = decision.chosen, decision.reason
        if not decision.chosen:
            self.tracer.emit(
                Escalation, step=self.step, parent=self.route_event.seq, reason=decision.reason,
                detail={"router": decision.router, "scores": decision.scores},
            )  # fmt: skip
            raise RoutingError(f"no agent fits this task: {decision.reason}")
        return decision.chosen

    async def run_agent(self, agent: Agent) -> str:
        if agent.runner is not None:
            return await self.run_program(agent)
        system = agent.instructions or f"You are the {agent.name} agent: {agent.description}"
        messages: tuple[Message, ...] = (Message.system(system), Message.user(self.task))
        model, ready = await self._pick_model(agent, messages)
        return ready if ready is not None else await self._answer(agent, model, messages)

    async def run_program(self, agent: Agent) -> str:
        """An agent that is a program of its own (a LangGraph graph, say): hand it the task,
        record its answer (a replay serves the recording and does not run it)."""
        assert agent.runner is not None
        started = time.perf_counter()
        recorded = self.recorded_programs.get(agent.name)
        try:
            if recorded is not None:
                if not recorded:
                    raise ReplayMissError(agent.name, "program answer")
                output = recorded.popleft()
            else:
                output = await agent.runner(self.task)
                if not isinstance(output, str):
                    raise RunError(f"agent {agent.name!r} returned {type(output).__name__}, "
                                   "not a string")  # fmt: skip
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.tracer.emit(
                AgentRunEvent, step=self.step, agent=agent.name, ok=False, task=self.task,
                latency_s=time.perf_counter() - started, error=error,
            )  # fmt: skip
            if isinstance(exc, AgentrouteError):
                raise
            raise RunError(f"agent {agent.name!r} failed: {error}") from exc
        self.tracer.emit(
            AgentRunEvent, step=self.step, agent=agent.name, ok=True, task=self.task,
            latency_s=time.perf_counter() - started, output=output,
        )  # fmt: skip
        return output

    async def _pick_model(
        self, agent: Agent, messages: tuple[Message, ...]
    ) -> tuple[Model, str | None]:
        """Ask the switching policy for a tier (after a one-token probe, or sigma probes, if it
        wants them), then downshift while the budget cannot pay for the chosen tier's worst
        case. Returns the model and, when sigma probes all agreed and the small model was
        kept, their answer (already paid for)."""
        policy = self.p.policy
        tiers = tuple(m.tier for m in agent.models)
        by_tier: dict[str, Model] = {m.tier: m for m in agent.models}
        budget = self.p.budget.usd
        signals: dict[str, float] = {
            "step": float(self.step),
            "recent_failures": float(self.caller.failed_attempts),
        }
        if budget:
            signals["remaining_ratio"] = self.caller.ledger.remaining_usd() / budget
        smallest = agent.models[0]
        if policy.probe_top_logprobs and len(tiers) > 1 and smallest.provider != "anthropic":
            probe = await self._complete(
                smallest,
                ModelRequest(
                    messages=messages,
                    max_tokens=1,
                    logprobs=True,
                    top_logprobs=policy.probe_top_logprobs,
                    tools=tuple(t.spec for t in agent.tools),
                ),
                agent.name,
                "probe",
            )
            if probe.logprobs:
                signals["first_token_entropy"] = probe.logprobs[0].entropy()
                signals["first_token_prob"] = probe.logprobs[0].prob
        agreed = None
        sigma_probes = getattr(policy, "sigma_probes", 0)
        if sigma_probes and len(tiers) > 1 and not agent.tools:
            signals["sigma"], agreed = await self._sigma(agent, smallest, messages, sigma_probes)
        decision = policy.choose(tiers, signals)
        model, reason = by_tier[decision.tier], decision.reason
        request = ModelRequest(
            messages=messages, max_tokens=agent.max_tokens, tools=tuple(t.spec for t in agent.tools)
        )
        index = agent.models.index(model)
        while (
            index > 0
            and self.caller.affordable(model, request, self._ledger_for(agent.name))
            < agent.max_tokens
        ):
            index -= 1
            reason += f"; budget cannot pay for {model.label}: downshift"
            model = agent.models[index]
        self.tracer.emit(
            ModelSwitch,
            step=self.step,
            agent=agent.name,
            policy=policy.name,
            from_model=None,
            to_model=model.label,
            reason=reason,
            signals=decision.signals,
        )
        return model, (agreed if model is smallest else None)

    async def _sigma(
        self, agent: Agent, model: Model, messages: tuple[Message, ...], n: int
    ) -> tuple[float, str | None]:
        """Sample ``n`` answers from ``model``; return sigma and, when all agree, one of them."""
        done = await all_or_cancel(
            [
                self._complete(
                    model,
                    ModelRequest(
                        messages=messages, max_tokens=agent.max_tokens, temperature=0.7, seed=i
                    ),
                    agent.name,
                    "probe",
                )
                for i in range(n)
            ]
        )
        keys = [normalize(c.text) for c in done]
        s = sigma(keys)
        return s, (done[0].text if s == 0.0 and keys[0] else None)

    async def _answer(self, agent: Agent, model: Model, messages: tuple[Message, ...]) -> str:
        """The answer from ``model``, running tools the model asks for (bounded rounds)."""
        for _ in range(MAX_TOOL_ROUNDS):
            request = ModelRequest(
                messages=messages,
                max_tokens=agent.max_tokens,
                tools=tuple(t.spec for t in agent.tools),
            )
            completion = await self._complete(model, request, agent.name)
            if not completion.tool_calls:
                return completion.text
            messages = (*messages, Message.assistant(completion.text, completion.tool_calls))
            for call in completion.tool_calls:
                messages = (
                    *messages,
                    await self._run_tool(agent, call.id, call.name, call.arguments),
                )
        raise RunError(f"agent {agent.name!r} asked for tools {MAX_TOOL_ROUNDS} times in a row")

    async def _run_tool(self, agent: Agent, call_id: str, name: str, arguments: str) -> Message:
        tool = agent.tool_named(name)
        started = time.perf_counter()
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            args = {}
        if tool is None:
            text = f"error: no tool named {name!r}"
            ok, error = False, text
        else:
            try:
                text = json.dumps(await tool.invoke(arguments))
                ok, error = True, None
            except ToolError as exc:
                text, ok, error = f"error: {exc}", False, str(exc)
        self.tracer.emit(
            ToolCallEvent,
            step=self.step,
            agent=agent.name,
            tool=name,
            call_id=call_id,
            ok=ok,
            latency_s=time.perf_counter() - started,
            arguments=args if isinstance(args, dict) else {},
            error=error,
        )
        return Message.tool(call_id, name, text)

    async def refine(self, names: tuple[str, ...], answers: list[str]) -> str:
        body = "\n\n".join(f"[{n}] {a}" for n, a in zip(names, answers, strict=True))
        request = ModelRequest(
            messages=(
                Message.system(_REFINE),
                Message.user(f"User request: {self.task}\n\nSpecialist answers:\n{body}"),
            ),
            max_tokens=max(self.p.agents[n].max_tokens for n in names),
        )
        return (await self._complete(self.p.router_model, request, "refiner", "refine")).text


async def _within(wall_s: float | None, work: Awaitable[str]) -> str:
    """Enforce the task's wall-time budget as a typed budget error."""
    if wall_s is None:
        return await work
    try:
        async with asyncio.timeout(wall_s):
            return await work
    except TimeoutError as exc:
        raise BudgetExceededError(
            f"the task ran past its wall-time budget of {wall_s:g}s",
            limit=wall_s,
            spent=wall_s,
            requested=0.0,
            unit="seconds",
        ) from exc
