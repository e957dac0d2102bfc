"""A `Pipeline` compiled into a LangGraph `StateGraph`, for durable execution and LangGraph's
ecosystem (checkpointers, streaming, studio).

The graph:  route -> agent__<name> (one unit per visit) <-> tools__<name> (one tool call per
visit) -> refine (when several agents answered) -> finish. Routing is agentroute's (any
`Router`: reasoning, semantic, ACO, ...), and so are the budget, the switching policy and the
trace. Each visit does one unit of work with an outside effect: the model pick (probes), one
model call, or one tool call. With a checkpointer and ``durability="sync"`` a checkpoint is
written after every unit, so a run killed mid-way resumes without repeating anything that
finished. What was in flight when the process died runs again: a model call that never came
back is sent again; a tool call is made again with the same `step_key()`, which a tool with
outside effects should use as its idempotency key.

Spend is carried in the graph state: a resumed run's ledger starts from what the checkpoint
says was spent, so the task's budget holds across processes. Each process writes its own
trace file, which starts with ``run_start`` and, on a resume, a ``resume`` event.
"""

from __future__ import annotations

import asyncio
import contextvars
import operator
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Checkpointer, StateSnapshot

from agentroute.agents import Agent
from agentroute.budget import Budget, Ledger
from agentroute.errors import AgentrouteError, ConfigError, RunError
from agentroute.events import ResumeEvent, RunEnd, RunStart
from agentroute.models import prepare
from agentroute.runtime.calls import ModelCaller
from agentroute.runtime.pipeline import MAX_TOOL_ROUNDS, Pipeline, _Run
from agentroute.runtime.result import Result
from agentroute.trace import Trace, Tracer
from agentroute.types import Message, ModelRequest, ToolCall, Usage

Durability = Literal["sync", "async", "exit"]
_STEP_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("step_key", default=None)


def step_key() -> str | None:
    """Inside a tool run by a durable pipeline: ``<thread>:<agent>:<n>``, the same on every
    attempt at this tool call, different for every other call (an idempotency key)."""
    return _STEP_KEY.get()


def _merge(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    return {**(old or {}), **(new or {})}


def _latest(old: int, new: int) -> int:
    return max(old, new)


def _union(old: list[str] | None, new: list[str] | None) -> list[str]:
    out = list(old or [])
    out.extend(x for x in new or [] if x not in out)
    return out


class RunState(TypedDict, total=False):
    """The checkpointed state of one durable run (plain JSON-able data)."""

    task: str
    chosen: list[str]
    reason: str
    threads: Annotated[dict[str, dict[str, Any]], _merge]
    """Per agent: model label, messages, pending tool calls, rounds, answer, spent."""
    output: str
    spent_usd: Annotated[float, operator.add]
    spent_tokens: Annotated[int, operator.add]
    input_tokens: Annotated[int, operator.add]
    output_tokens: Annotated[int, operator.add]
    model_calls: Annotated[int, operator.add]
    step: Annotated[int, _latest]
    models: Annotated[list[str], _union]


@dataclass
class _Segment:
    """What one process holds for one thread while it runs: its tracer and ledger."""

    thread_id: str
    tracer: Tracer
    trace_path: Path | None
    ledger: Ledger
    start: RunStart
    step: int
    started: float = field(default_factory=time.perf_counter)

    def next_step(self) -> int:
        self.step += 1
        return self.step


class _NodeRun(_Run):
    """A `_Run` for one graph node: its own caller (to count this node's calls and spend),
    the segment's ledger chain, tracer and step counter."""

    def __init__(self, pipeline: Pipeline, seg: _Segment, state: RunState) -> None:
        self.node_ledger = seg.ledger.child(Budget())
        super().__init__(
            pipeline,
            ModelCaller(seg.tracer, self.node_ledger, connector=pipeline.endpoints.get,
                        owns_endpoints=False),
            state["task"],
        )  # fmt: skip
        self.seg = seg
        self.step = seg.step
        self.route_reason = state.get("reason", "")
        for name, thread in state.get("threads", {}).items():
            spec = pipeline.agents.get(name)
            if spec is not None and spec.budget is not None:
                ledger = self.node_ledger.child(spec.budget)
                ledger.carry(thread.get("spent_usd", 0.0), thread.get("spent_tokens", 0))
                self.ledgers[name] = ledger

    def _next_step(self) -> int:
        self.step = self.seg.next_step()
        return self.step

    def delta(self) -> RunState:
        return RunState(
            spent_usd=self.node_ledger.spent_usd,
            spent_tokens=self.node_ledger.spent_tokens,
            input_tokens=self.usage.input_tokens,
            output_tokens=self.usage.output_tokens,
            model_calls=self.caller.model_calls,
            step=self.seg.step,
            models=list(self.models_used),
        )


def _agent_node(name: str) -> str:
    return f"agent__{name}"


def _tools_node(name: str) -> str:
    return f"tools__{name}"


class DurablePipeline:
    """Run a `Pipeline` as a compiled LangGraph graph.

        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
        async with AsyncSqliteSaver.from_conn_string("runs.db") as saver:
            durable = DurablePipeline(pipeline, checkpointer=saver)
            result = await durable.arun("Book Lisbon", thread_id="order-77")
            # ...the process dies; in a new one:
            result = await durable.aresume("order-77")

    ``graph`` is the compiled graph for LangGraph's own tools (``astream``, ``aget_state``).
    The task's wall-time budget applies to each process's part of the run, not the whole.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        checkpointer: Checkpointer = None,
        durability: Durability = "sync",
    ) -> None:
        if durability not in ("sync", "async", "exit"):
            raise ConfigError(f"durability must be 'sync', 'async' or 'exit', not {durability!r}")
        self.pipeline = pipeline
        self.durability: Durability = durability
        self._segments: dict[str, _Segment] = {}
        self._resuming: dict[str, StateSnapshot] = {}
        self.graph = self._build().compile(checkpointer=checkpointer)

    # -- running ----------------------------------------------------------------------------
    async def arun(self, task: str, *, thread_id: str) -> Result:
        """Start a run on a new thread (a thread id that already has a run is refused)."""
        if not isinstance(task, str) or not task.strip():
            raise ConfigError("the task must be a non-empty string")
        config = self._config(thread_id)
        if self.graph.checkpointer is not None and (await self.graph.aget_state(config)).values:
            raise ConfigError(f"thread {thread_id!r} already has a run; use aresume()")
        return await self._invoke(RunState(task=task), thread_id)

    async def aresume(self, thread_id: str) -> Result:
        """Continue a thread from its last checkpoint; a finished one returns its result
        without running anything."""
        if self.graph.checkpointer is None:
            raise ConfigError("resuming needs a checkpointer")
        snapshot = await self.graph.aget_state(self._config(thread_id))
        if not snapshot.values:
            raise ConfigError(f"thread {thread_id!r} has no checkpoint to resume")
        if not snapshot.next and snapshot.values.get("output") is not None:
            return self._result(snapshot.values, None)
        self._resuming[thread_id] = snapshot
        return await self._invoke(None, thread_id)

    def run(self, task: str, *, thread_id: str) -> Result:
        return asyncio.run(self._and_close(self.arun(task, thread_id=thread_id)))

    def resume(self, thread_id: str) -> Result:
        return asyncio.run(self._and_close(self.aresume(thread_id)))

    async def _and_close(self, work: Awaitable[Result]) -> Result:
        try:
            return await work
        finally:
            await self.pipeline.aclose()  # the provider clients this loop opened

    async def _invoke(self, payload: RunState | None, thread_id: str) -> Result:
        try:
            values = await self.graph.ainvoke(
                payload, self._config(thread_id), durability=self.durability
            )
        except BaseException as exc:
            seg = self._segments.get(thread_id)
            if seg is not None:
                snapshot = await self.graph.aget_state(self._config(thread_id))
                self._end(seg, snapshot.values, exc)
                if isinstance(exc, AgentrouteError):
                    exc.trace = seg.tracer.trace  # type: ignore[attr-defined]
            raise
        finally:
            seg = self._segments.pop(thread_id, None)
        assert seg is not None
        return self._result(values, seg)

    def _config(self, thread_id: str) -> RunnableConfig:
        if not isinstance(thread_id, str) or not thread_id:
            raise ConfigError("thread_id must be a non-empty string")
        return {"configurable": {"thread_id": thread_id}}

    def _result(self, values: dict[str, Any], seg: _Segment | None) -> Result:
        return Result(
            output=values["output"],
            agents=tuple(values.get("chosen", ())),
            models=tuple(values.get("models", ())),
            usage=Usage(
                input_tokens=values.get("input_tokens", 0),
                output_tokens=values.get("output_tokens", 0),
            ),
            cost_usd=values.get("spent_usd", 0.0),
            model_calls=values.get("model_calls", 0),
            wall_s=time.perf_counter() - seg.started if seg else 0.0,
            trace=seg.tracer.trace if seg else Trace(()),
            trace_path=seg.trace_path if seg else None,
            route_reason=values.get("reason", ""),
        )

    # -- segments ---------------------------------------------------------------------------
    async def _segment(self, state: RunState, config: RunnableConfig) -> _Segment:
        thread_id = config["configurable"]["thread_id"]
        seg = self._segments.get(thread_id)
        if seg is not None:
            return seg
        p = self.pipeline
        tracer, trace_path, start = p.open_trace(state["task"])
        ledger = Ledger(p.budget)
        ledger.carry(state.get("spent_usd", 0.0), state.get("spent_tokens", 0))
        seg = _Segment(thread_id, tracer, trace_path, ledger, start, state.get("step", 0))
        resumed = self._resuming.pop(thread_id, None)
        if resumed is not None:
            tracer.emit(
                ResumeEvent,
                thread_id=thread_id,
                checkpoint_id=resumed.config["configurable"].get("checkpoint_id"),
                done_steps=state.get("step", 0),
                spent_usd=state.get("spent_usd", 0.0),
                model_calls=state.get("model_calls", 0),
                next_nodes=tuple(resumed.next),
            )
        self._segments[thread_id] = seg
        await prepare(p.models())
        return seg

    def _end(self, seg: _Segment, values: dict[str, Any], exc: BaseException | None) -> None:
        done = dict(
            cost_usd=values.get("spent_usd", 0.0),
            input_tokens=values.get("input_tokens", 0),
            output_tokens=values.get("output_tokens", 0),
            model_calls=values.get("model_calls", 0),
            wall_s=time.perf_counter() - seg.started,
        )
        if exc is None:
            seg.tracer.emit(RunEnd, status="ok", output=values.get("output"), **done)
        else:
            seg.tracer.emit(
                RunEnd, status="error", error_type=type(exc).__name__, error=str(exc)[:500],
                **done,
            )  # fmt: skip
        seg.tracer.close()

    # -- the graph --------------------------------------------------------------------------
    def _build(self) -> StateGraph[RunState]:
        p = self.pipeline
        g: StateGraph[RunState] = StateGraph(RunState)
        g.add_node("route", self._route)
        g.add_node("refine", self._refine)
        g.add_node("finish", self._finish)
        g.add_edge(START, "route")
        agent_nodes = [_agent_node(n) for n in p.agents]
        g.add_conditional_edges("route", lambda s: [_agent_node(n) for n in s["chosen"]],
                                agent_nodes)  # fmt: skip
        for name, agent in p.agents.items():
            g.add_node(_agent_node(name), self._agent_step(agent))
            targets = [_agent_node(name), "refine", "finish", END]
            if agent.tools:
                g.add_node(_tools_node(name), self._tool_step(agent))
                targets.append(_tools_node(name))
                g.add_conditional_edges(_tools_node(name), self._after_tools(name),
                                        [_agent_node(name), _tools_node(name)])  # fmt: skip
            g.add_conditional_edges(_agent_node(name), self._after_agent(name), targets)
        g.add_edge("refine", "finish")
        g.add_edge("finish", END)
        return g

    async def _route(self, state: RunState, config: RunnableConfig) -> RunState:
        seg = await self._segment(state, config)
        run = _NodeRun(self.pipeline, seg, state)
        with seg.tracer.scope(seg.start):
            chosen = await run.route()
        threads = {n: {"answer": None} for n in chosen}
        return RunState(chosen=list(chosen), reason=run.route_reason, threads=threads,
                        **run.delta())  # fmt: skip

    def _agent_step(self, agent: Agent):  # type: ignore[no-untyped-def]
        async def step(state: RunState, config: RunnableConfig) -> RunState:
            seg = await self._segment(state, config)
            run = _NodeRun(self.pipeline, seg, state)
            thread = dict(state["threads"][agent.name])
            with seg.tracer.scope(seg.start):
                if agent.runner is not None:
                    thread["answer"] = await run.run_program(agent)
                elif thread.get("model") is None:
                    system = agent.instructions or (
                        f"You are the {agent.name} agent: {agent.description}"
                    )
                    messages = (Message.system(system), Message.user(run.task))
                    model, ready = await run._pick_model(agent, messages)
                    thread["model"] = model.label
                    thread["messages"] = [m.model_dump(mode="json") for m in messages]
                    thread["answer"] = ready
                else:
                    await self._model_turn(run, agent, thread)
            delta = run.delta()
            thread["spent_usd"] = thread.get("spent_usd", 0.0) + delta["spent_usd"]
            thread["spent_tokens"] = thread.get("spent_tokens", 0) + delta["spent_tokens"]
            return RunState(threads={agent.name: thread}, **delta)

        return step

    async def _model_turn(self, run: _NodeRun, agent: Agent, thread: dict[str, Any]) -> None:
        if thread.get("rounds", 0) >= MAX_TOOL_ROUNDS:
            raise RunError(f"agent {agent.name!r} asked for tools {MAX_TOOL_ROUNDS} times in a row")
        model = next(m for m in agent.models if m.label == thread["model"])
        messages = tuple(Message.model_validate(m) for m in thread["messages"])
        request = ModelRequest(messages=messages, max_tokens=agent.max_tokens,
                               tools=tuple(t.spec for t in agent.tools))  # fmt: skip
        completion = await run._complete(model, request, agent.name)
        if not completion.tool_calls:
            thread["answer"] = completion.text
            return
        reply = Message.assistant(completion.text, completion.tool_calls)
        thread["messages"] = [*thread["messages"], reply.model_dump(mode="json")]
        thread["pending"] = [c.model_dump(mode="json") for c in completion.tool_calls]
        thread["rounds"] = thread.get("rounds", 0) + 1

    def _tool_step(self, agent: Agent):  # type: ignore[no-untyped-def]
        async def step(state: RunState, config: RunnableConfig) -> RunState:
            seg = await self._segment(state, config)
            run = _NodeRun(self.pipeline, seg, state)
            thread = dict(state["threads"][agent.name])
            call = ToolCall.model_validate(thread["pending"][0])
            done = len(thread["messages"])
            token = _STEP_KEY.set(f"{seg.thread_id}:{agent.name}:{done}")
            try:
                with seg.tracer.scope(seg.start):
                    message = await run._run_tool(agent, call.id, call.name, call.arguments)
            finally:
                _STEP_KEY.reset(token)
            thread["messages"] = [*thread["messages"], message.model_dump(mode="json")]
            thread["pending"] = thread["pending"][1:]
            return RunState(threads={agent.name: thread}, step=seg.step)

        return step

    def _after_agent(self, name: str):  # type: ignore[no-untyped-def]
        def next_node(state: RunState) -> str:
            thread = state["threads"][name]
            if thread.get("answer") is None:
                return _tools_node(name) if thread.get("pending") else _agent_node(name)
            answers = [state["threads"][n].get("answer") for n in state["chosen"]]
            if any(a is None for a in answers):
                return END  # this branch is done; the last agent to finish moves on
            return "refine" if len(answers) > 1 else "finish"

        return next_node

    def _after_tools(self, name: str):  # type: ignore[no-untyped-def]
        def next_node(state: RunState) -> str:
            return _tools_node(name) if state["threads"][name].get("pending") else _agent_node(name)

        return next_node

    async def _refine(self, state: RunState, config: RunnableConfig) -> RunState:
        seg = await self._segment(state, config)
        run = _NodeRun(self.pipeline, seg, state)
        names = tuple(state["chosen"])
        with seg.tracer.scope(seg.start):
            output = await run.refine(names, [state["threads"][n]["answer"] for n in names])
        return RunState(output=output, **run.delta())

    async def _finish(self, state: RunState, config: RunnableConfig) -> RunState:
        seg = await self._segment(state, config)
        output = state.get("output")
        if output is None:
            output = state["threads"][state["chosen"][0]]["answer"]
        values = {**state, "output": output}
        self._end(seg, values, None)
        return RunState(output=output)
