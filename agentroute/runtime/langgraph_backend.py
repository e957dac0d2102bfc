"""A driver of the engine on LangGraph, for durable execution and LangGraph's ecosystem
(checkpointers, streaming, studio).

The compiled graph has one node, ``unit``, that loops on itself: each visit runs one unit of
the engine (one decision and the one model call, tool call, handler or probe it asks for) for
one lane of the run, and returns the engine's state (`RunState.dump`) with what was spent.
With a checkpointer and ``durability="sync"`` a checkpoint is written after every unit, so a
run killed mid-way resumes without repeating anything that finished. What was in flight when
the process died runs again: a model call that never came back is sent again; a tool call is
made again with the same `step_key()`, which a tool with outside effects should use as its
idempotency key. Lanes of a fan-out take turns (one unit each), so their work interleaves.

Spend is carried in the state: a resumed run's ledgers start from what the checkpoint says
was spent, so the task's budget (and every agent's) holds across processes. Each process
writes its own trace file, which starts with ``run_start`` and, on a resume, a ``resume``
event.

A thread can also hold a conversation (`DurablePipeline.aask`): each message is one run on
the thread, started from the conversation the thread's checkpoint holds, so a session goes
on in a new process after a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Checkpointer, StateSnapshot

from agentroute.engine import RunState, Session
from agentroute.engine.loop import step_key
from agentroute.engine.state import Lane
from agentroute.errors import ConfigError
from agentroute.models import prepare
from agentroute.runtime.pipeline import Pipeline, result_of
from agentroute.runtime.result import Result
from agentroute.trace import Trace
from agentroute.types import Message

__all__ = ["DurablePipeline", "RunValues", "step_key"]
Durability = Literal["sync", "async", "exit"]
UNIT = "unit"


class RunValues(TypedDict, total=False):
    """The checkpointed state of one durable run (plain JSON-able data)."""

    task: str
    history: list[dict[str, Any]]
    """The conversation before ``task`` (messages as data), for a thread that holds one."""
    run: dict[str, Any]
    """The engine's `RunState.dump` (empty before the run's first unit)."""
    spent: dict[str, list[float]]
    """USD, tokens and calls spent, for the task (``""``) and each agent with a sub-budget."""
    model_calls: int
    chosen: list[str]
    output: str | None
    done: bool


@dataclass
class _Segment:
    """What one process holds for one thread while it runs: the engine's session."""

    session: Session
    calls_before: int
    started: float = field(default_factory=time.perf_counter)


class DurablePipeline:
    """Run a `Pipeline` on LangGraph, checkpointed unit by unit.

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
        g: StateGraph[RunValues] = StateGraph(RunValues)
        g.add_node(UNIT, self._unit)  # type: ignore[call-overload]
        g.add_edge(START, UNIT)
        g.add_conditional_edges(UNIT, lambda v: END if v.get("done") else UNIT, [UNIT, END])
        self.graph = g.compile(checkpointer=checkpointer)

    # -- running ----------------------------------------------------------------------------
    async def arun(self, task: str, *, thread_id: str) -> Result:
        """Start a run on a new thread (a thread id that already has a run is refused)."""
        if not isinstance(task, str) or not task.strip():
            raise ConfigError("the task must be a non-empty string")
        config = self._config(thread_id)
        if self.graph.checkpointer is not None and (await self.graph.aget_state(config)).values:
            raise ConfigError(f"thread {thread_id!r} already has a run; use aresume()")
        return await self._invoke(RunValues(task=task), thread_id)

    async def aresume(self, thread_id: str) -> Result:
        """Continue a thread from its last checkpoint; a finished one returns its result
        without running anything."""
        if self.graph.checkpointer is None:
            raise ConfigError("resuming needs a checkpointer")
        snapshot = await self.graph.aget_state(self._config(thread_id))
        if not snapshot.values:
            raise ConfigError(f"thread {thread_id!r} has no checkpoint to resume")
        if not snapshot.next and snapshot.values.get("done"):
            return self._finished(snapshot.values)
        self._resuming[thread_id] = snapshot
        return await self._invoke(None, thread_id)

    async def aask(self, text: str, *, thread_id: str) -> Result:
        """One turn of the conversation the thread holds: ``text`` runs with the messages of
        every earlier turn on this thread (read from its checkpoint, so in a new process
        too). A turn that is not over (the process died) is refused: `aresume` it first."""
        if not isinstance(text, str) or not text.strip():
            raise ConfigError("the message must be a non-empty string")
        if self.graph.checkpointer is None:
            raise ConfigError("a conversation on a thread needs a checkpointer")
        snapshot = await self.graph.aget_state(self._config(thread_id))
        history = turns_so_far(snapshot.values)
        if snapshot.values and (snapshot.next or not snapshot.values.get("done")):
            raise ConfigError(f"thread {thread_id!r} has a turn in progress; aresume() it")
        fresh = RunValues(task=text, history=history, run={}, spent={}, model_calls=0,
                          chosen=[], output=None, done=False)  # fmt: skip
        return await self._invoke(fresh, thread_id)

    def ask(self, text: str, *, thread_id: str) -> Result:
        return asyncio.run(self._and_close(self.aask(text, thread_id=thread_id)))

    def run(self, task: str, *, thread_id: str) -> Result:
        return asyncio.run(self._and_close(self.arun(task, thread_id=thread_id)))

    def resume(self, thread_id: str) -> Result:
        return asyncio.run(self._and_close(self.aresume(thread_id)))

    async def _and_close(self, work: Awaitable[Result]) -> Result:
        try:
            return await work
        finally:
            await self.pipeline.aclose()  # the provider clients this loop opened

    async def _invoke(self, payload: RunValues | None, thread_id: str) -> Result:
        try:
            await self.graph.ainvoke(payload, self._config(thread_id), durability=self.durability)
        except BaseException as exc:
            seg = self._segments.pop(thread_id, None)
            if seg is not None:
                seg.session.end(exc)
                await seg.session.aclose()
            raise
        seg = self._segments.pop(thread_id)
        outcome = seg.session.end(None)
        await seg.session.aclose()
        result = result_of(outcome)  # raises for an escalated run
        return Result(
            **{
                **result.__dict__,
                "model_calls": seg.calls_before + result.model_calls,
                "wall_s": time.perf_counter() - seg.started,
            }
        )

    def _config(self, thread_id: str) -> RunnableConfig:
        if not isinstance(thread_id, str) or not thread_id:
            raise ConfigError("thread_id must be a non-empty string")
        return {"configurable": {"thread_id": thread_id}}

    def _finished(self, values: dict[str, Any]) -> Result:
        st = RunState.load(values["run"])
        return Result(
            output=values.get("output") or "",
            agents=tuple(values.get("chosen", ())),
            models=tuple(st.models_used),
            usage=st.usage,
            cost_usd=values["spent"][""][0],
            model_calls=values.get("model_calls", 0),
            wall_s=0.0,
            trace=Trace(()),
            route_reason=st.route_reason,
        )

    # -- the one node -----------------------------------------------------------------------
    async def _segment(self, values: RunValues, config: RunnableConfig) -> _Segment:
        thread_id = config["configurable"]["thread_id"]
        seg = self._segments.get(thread_id)
        if seg is not None:
            return seg
        state = RunState.load(values["run"]) if values.get("run") else None
        history = tuple(Message.model_validate(m) for m in values.get("history", ()))
        spent = {k: (v[0], int(v[1]), int(v[2])) for k, v in values.get("spent", {}).items()}
        resume = None
        snapshot = self._resuming.pop(thread_id, None)
        if snapshot is not None and state is not None:
            resume = dict(
                thread_id=thread_id,
                checkpoint_id=snapshot.config["configurable"].get("checkpoint_id"),
                done_steps=sum(lane.step for lane in state.lanes.values()),
                spent_usd=spent.get("", (0.0, 0))[0],
                model_calls=values.get("model_calls", 0),
                next_nodes=tuple(snapshot.next),
            )
        session = self.pipeline.engine.open(
            values["task"], state=state, spent=spent, resume=resume, thread_id=thread_id,
            history=history,
        )  # fmt: skip
        seg = self._segments[thread_id] = _Segment(session, values.get("model_calls", 0))
        await prepare(self.pipeline.engine.models())
        return seg

    async def _unit(self, values: RunValues, config: RunnableConfig) -> RunValues:
        seg = await self._segment(values, config)
        session = seg.session
        lane = _next_lane(session.state)
        if lane is not None:
            await session.unit(lane)
            _joins(session)
        st = session.state
        main = st.main
        output = main.output if isinstance(main.output, str) and main.done else None
        return RunValues(
            run=session.snapshot(),
            spent={k: list(v) for k, v in session.spent().items()},
            model_calls=seg.calls_before + session.caller.model_calls,
            chosen=list(st.agents),
            output=output,
            done=main.done,
        )


def turns_so_far(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation a thread holds after its last finished turn, as data: the history
    that turn had, its message and its answer."""
    if not values or not values.get("done"):
        return list(values.get("history", ())) if values else []
    said = [Message.user(values["task"]), Message.assistant(values.get("output") or "")]
    return [*values.get("history", ()), *(m.model_dump(mode="json") for m in said)]


def _next_lane(state: RunState) -> Lane | None:
    """The lane whose turn it is: the runnable one that has done the fewest steps."""
    runnable = [x for x in state.lanes.values() if not x.done and not x.waiting]
    return min(runnable, key=lambda x: (x.step, x.key)) if runnable else None


def _joins(session: Session) -> None:
    """Join every fan-out whose branches are over (or one of which failed: the others stop)."""
    lanes = session.state.lanes
    for lane in list(lanes.values()):
        if not lane.waiting:
            continue
        branches = [lanes[k] for k in lane.waiting]
        if all(b.done for b in branches) or any(b.status == "escalated" for b in branches):
            for b in branches:
                b.done = True
            session.join(lane)
