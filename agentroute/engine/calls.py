"""The one place a run does I/O: model calls, tool calls, node handlers and programs.

A model call reserves its worst case before each attempt (a retry can cost again), is retried
by the one retry layer, settled from usage, and produces exactly one ``model_call`` event,
successful or not, so no attempt is ever invisible. Every attempt of anything (a model
attempt, a tool call, a handler, a program) also yields one `Outcome`, appended to the run's
outcomes: the health monitors, the ledger's totals and the learners read them from there.

In a replay the caller is handed a `Recorded` source: tools, handlers and programs answer from
the trace and never run (model calls are served by replay endpoints).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from agentroute.agents import Tool
from agentroute.budget import Ledger, estimate_input_tokens
from agentroute.engine.serving import Pool, Serving, choose_for, choose_replica
from agentroute.engine.streaming import Answer, Listen, continuation, joined, read
from agentroute.errors import (
    AgentrouteError,
    AttemptTimeoutError,
    BadRequestError,
    BudgetExceededError,
    ModelError,
    NoReplicaError,
    ResponseFormatError,
    RunError,
    ToolError,
)
from agentroute.events import (
    AdapterPick,
    AgentRunEvent,
    AntStepEvent,
    BudgetRefused,
    BudgetReserve,
    BudgetSettle,
    Escalation,
    ModelCallEvent,
    NodeRunEvent,
    ReplicaPick,
    RetryEvent,
    ToolCallEvent,
)
from agentroute.models import Model, ModelEndpoint, connect
from agentroute.models.replay import ReplayMissError, request_hash
from agentroute.models.retry import call_with_retry
from agentroute.trace import Tracer
from agentroute.types import (
    Completion,
    Delta,
    HealthSignal,
    Message,
    ModelRequest,
    Outcome,
    ToolCall,
)

MIN_USEFUL_TOKENS = 8
MAX_CHARS_PER_TOKEN = 64
"""No tokenizer has tokens this long: an answer longer than this times max_tokens is bogus."""
MIN_CHARS_REFUSED = 32 * 1024
QUEUE_TRACED_S = 0.001
"""A call that waited this long or more for its endpoint's in-flight gate says so in its
``model_call`` events (``queued_s``)."""
"""Below this an answer is never refused for its length (parsers deal with chatty servers)."""
ENDPOINT_DOWN = (BadRequestError, ResponseFormatError)
"""Errors about one request, not the endpoint: only the variant that sent it is taken out."""


class Recorded(Protocol):
    """What a replay serves instead of running user code."""

    def tool(self, agent: str, call: ToolCall) -> ToolCallEvent | None:
        """The recorded call, or None to run the real tool."""
        ...

    def node(self, name: str) -> NodeRunEvent: ...

    def program(self, agent: str) -> AgentRunEvent: ...

    def ant_step(self, stage: int, previous: str) -> AntStepEvent:
        """The recorded ant choice at this colony stage after ``previous``."""
        ...

    def pick(self, agent: str | None, model: str) -> ReplicaPick | None:
        """The next replica pick recorded for this agent's calls to this model."""
        ...

    def adapter(self, agent: str | None, model: str) -> AdapterPick | None:
        """The next adapter pick recorded for this agent's calls to this model."""
        ...


class ModelCaller:
    """Shared by all agents and routers of one run: endpoints, ledger and tracer."""

    def __init__(
        self,
        tracer: Tracer,
        ledger: Ledger,
        clock: Callable[[], float] = time.perf_counter,
        *,
        connector: Callable[[Model], ModelEndpoint] = connect,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        owns_endpoints: bool = True,
        outcomes: list[Outcome] | None = None,
        recorded: Recorded | None = None,
        serving: Serving | None = None,
    ) -> None:
        """``owns_endpoints=False`` when ``connector`` hands out pooled endpoints that outlive
        this caller (then `aclose` leaves them open). ``serving``: the live state of pooled
        models and adapter routing, shared by the runs of one engine."""
        self.tracer = tracer
        self._owns = owns_endpoints
        self.ledger = ledger
        self._clock = clock
        self._connect = connector
        self._sleep = sleep
        self._endpoints: dict[int, tuple[Model, ModelEndpoint]] = {}
        """By the model's id (hashing a model value on every call costs): the model is kept
        with its endpoint, so the id is not reused while the entry lives."""
        self.model_calls = 0
        self.failed_attempts = 0
        self.outcomes: list[Outcome] = [] if outcomes is None else outcomes
        self.recorded = recorded
        self.serving = serving or Serving()
        self.signals: Sequence[HealthSignal] = ()
        """The run's health signals in force (the engine sets them): a pool routes around
        the replicas they mark down."""

    def endpoint(self, model: Model) -> ModelEndpoint:
        found = self._endpoints.get(id(model))
        if found is None:
            self.tracer.redactor.add(model.secrets())
            found = self._endpoints[id(model)] = (model, self._connect(model))
        return found[1]

    def affordable(self, model: Model, request: ModelRequest, ledger: Ledger | None = None) -> int:
        """How many output tokens the budget allows for this request on this model."""
        tokens_in = _prompt_tokens(request)
        return (ledger or self.ledger).affordable_max_tokens(
            model.price, tokens_in, request.max_tokens
        )

    async def call(
        self,
        model: Model,
        request: ModelRequest,
        *,
        step: int,
        agent: str | None = None,
        purpose: str = "answer",
        ledger: Ledger | None = None,
        listen: Listen | None = None,
    ) -> Completion:
        """One model call, retried; ``ledger`` is the agent's sub-budget when it has one.
        With ``listen`` the answer is streamed where the endpoint can (its pieces go to
        ``listen`` as they arrive), and an attempt that breaks mid-answer is continued by the
        next one (`agentroute.engine.streaming`); the completion's text is the whole answer."""
        book = ledger or self.ledger
        tokens_in = _prompt_tokens(request)
        allowed = book.affordable_max_tokens(model.price, tokens_in, request.max_tokens)
        if allowed < min(MIN_USEFUL_TOKENS, request.max_tokens):
            remaining = book.remaining_usd()
            want = model.price.worst_case(tokens_in, request.max_tokens)
            self.tracer.emit(
                BudgetRefused,
                step=step,
                agent=agent,
                model=model.label,
                requested_usd=want,
                remaining_usd=remaining,
            )
            remaining_tokens = book.remaining_tokens()
            if tokens_in + MIN_USEFUL_TOKENS > remaining_tokens:
                raise BudgetExceededError(
                    f"{model.label}: {remaining_tokens:.0f} tokens left, the prompt alone "
                    f"may take {tokens_in}",
                    limit=float(book.budget.tokens or 0),
                    spent=float(book.spent_tokens),
                    requested=float(tokens_in),
                    unit="tokens",
                )
            raise BudgetExceededError(
                f"{model.label}: the remaining ${remaining:.6g} cannot pay for this call "
                f"(worst case ${want:.6g})",
                limit=book.budget.usd or 0.0,
                spent=book.spent_usd,
                requested=want,
            )
        if allowed < request.max_tokens:
            request = request.model_copy(update={"max_tokens": allowed})
        pool = self.serving.pool(model) if model.replicas else None
        endpoint = self.endpoint(model if pool is None else pool.models[0])
        adapter = None
        if model.adapters is not None:
            adapter = self._adapter(model, request, step, agent)
            endpoint = _named(endpoint, adapter)
        stream = None
        if listen is not None and not request.logprobs:
            stream = getattr(endpoint, "stream", None) or _whole(endpoint)
        answer = Answer(request.prefill)
        common: dict[str, Any] = {
            "step": step,
            "agent": agent,
            "provider": model.provider,
            "model": model.label,
            "tier": model.tier,
            "purpose": purpose,
            "streamed": stream is not None,
        }
        if adapter is not None:
            common["adapter"] = adapter

        async def attempt(
            number: int, timeout_s: float, endpoint: ModelEndpoint = endpoint,
            stream: Any = stream, slot: int | None = None,
        ) -> Completion:  # fmt: skip
            """One attempt on ``endpoint`` (a pool's replica ``slot``, when pooled)."""
            req = continuation(request, answer)
            common["request_hash"] = request_hash(model.label, req)
            common["continues"] = len(req.prefill) if req.prefill else None
            res = book.reserve(model.label, model.price, _prompt_tokens(req), req.max_tokens)
            self.tracer.emit(
                BudgetReserve,
                step=step,
                agent=agent,
                model=model.label,
                amount_usd=res.amount_usd,
                spent_usd=book.spent_usd,
                reserved_usd=book.reserved_usd,
                limit_usd=book.budget.usd,
                max_tokens=req.max_tokens,
            )
            # a pool's replica is judged by the health monitors on its own
            target = model.label if pool is None or slot is None else pool.targets[slot]
            first: list[float] = []  # when the first piece of a pooled stream came
            started = self._clock()
            self.model_calls += 1
            try:
                try:
                    async with asyncio.timeout(timeout_s):
                        if stream is not None and listen is not None:
                            pieces = stream(req, timeout_s=timeout_s)
                            if slot is not None:  # a pool measures the time to first token
                                pieces = _timed(pieces, first, self._clock)
                            completion = await read(
                                pieces, answer, max_tokens=req.max_tokens, listen=listen,
                                label=model.label,
                            )  # fmt: skip
                        else:
                            completion = await endpoint.complete(req, timeout_s=timeout_s)
                    size = _written(completion)
                    if size > max(MAX_CHARS_PER_TOKEN * req.max_tokens, MIN_CHARS_REFUSED):
                        # a server ignoring max_tokens and its own usage count (in the text or
                        # in tool-call arguments): billed at the worst case (below), the answer
                        # kept out of the trace, the task stopped
                        raise ResponseFormatError(
                            f"{model.label}: {size} characters cannot fit in "
                            f"max_tokens={req.max_tokens}; the answer was refused",
                            provider=model.provider,
                            model=model.label,
                        )
                    if stream is None:
                        answer.text = joined(req.prefill, completion.text)
                except TimeoutError as exc:
                    raise AttemptTimeoutError(
                        f"{model.label}: attempt {number} ran past {timeout_s:.3g}s",
                        provider=model.provider,
                        model=model.label,
                    ) from exc
            except BaseException as exc:
                if isinstance(exc, ModelError):  # a server may echo a credential back
                    exc.message = self.tracer.redactor.text(exc.message)
                    exc.args = (exc.message,)
                    # a refused answer is no start to build on: what came before it is
                    if isinstance(exc, ResponseFormatError):
                        answer.text = req.prefill
                    exc.partial = answer.text
                billed = 0.0
                if _may_have_run(exc):  # the server may have done (and billed) the work
                    billed, _ = book.settle(res, model.price, None)
                else:
                    book.release(res)
                self.failed_attempts += 1
                elapsed = self._clock() - started
                kind = type(exc).__name__
                if isinstance(exc, asyncio.CancelledError) and elapsed >= timeout_s:
                    # the retry layer's backstop fired with our own timeout (a stalled loop):
                    # it is this attempt's timeout, and the retry layer treats it as one
                    kind = AttemptTimeoutError.__name__
                self.tracer.emit(
                    ModelCallEvent,
                    **common,
                    attempt=number,
                    ok=False,
                    latency_s=elapsed,
                    error_type=kind,
                    error=str(exc)[:500],
                    status=getattr(exc, "status", None),
                    retryable=exc.retryable
                    if isinstance(exc, ModelError)
                    else kind != type(exc).__name__,
                    retry_after_s=getattr(exc, "retry_after_s", None),
                    cost_usd=billed,
                    sent=getattr(exc, "sent", True),
                    partial="".join(answer.raw) or None,
                )
                self.outcomes.append(
                    Outcome(
                        target=target,
                        ok=False,
                        cost_usd=billed,
                        latency_s=max(0.0, elapsed),
                        error_type=kind,
                        status=getattr(exc, "status", None),
                    )
                )
                raise
            latency = self._clock() - started
            if slot is not None:  # the time to first token, or to the whole answer
                common["ttft_s"] = first[0] - started if first else latency
            usage = completion.usage if completion.usage_reported else None
            actual, overshoot = book.settle(res, model.price, usage)
            self.tracer.emit(
                ModelCallEvent,
                **common,
                attempt=number,
                ok=True,
                latency_s=latency,
                input_tokens=completion.usage.input_tokens,
                output_tokens=completion.usage.output_tokens,
                usage_reported=completion.usage_reported,
                cost_usd=actual,
                finish_reason=completion.finish_reason,
                confidence=completion.mean_token_prob(),
                response=completion.model_dump(mode="json"),
            )
            self.outcomes.append(
                Outcome(target=target, ok=True, latency_s=max(0.0, latency), cost_usd=actual)
            )
            self.tracer.emit(
                BudgetSettle,
                step=step,
                agent=agent,
                model=model.label,
                reserved_usd=res.amount_usd,
                actual_usd=actual,
                spent_usd=book.spent_usd,
                overshoot_usd=overshoot,
            )
            # in any unit: more money or more tokens than were reserved
            over_tokens = usage is not None and usage.total_tokens > res.tokens
            if overshoot > 0 or over_tokens:
                self.tracer.emit(
                    Escalation,
                    step=step,
                    agent=agent,
                    reason="budget_overshoot",
                    detail={
                        "model": model.label,
                        "reserved_usd": res.amount_usd,
                        "actual_usd": actual,
                        "output_tokens": completion.usage.output_tokens,
                        "max_tokens": req.max_tokens,
                    },
                )
                if overshoot > 0:
                    raise BudgetExceededError(
                        f"{model.label} spent ${actual:.6g}, ${overshoot:.6g} more than the "
                        f"${res.amount_usd:.6g} reserved (it ignored max_tokens); task stopped",
                        limit=book.budget.usd or 0.0,
                        spent=book.spent_usd,
                        requested=actual,
                        partial=completion.text,
                    )
                raise BudgetExceededError(
                    f"{model.label} used {completion.usage.total_tokens} tokens where "
                    f"{res.tokens} were reserved (it ignored max_tokens={req.max_tokens}); "
                    "task stopped",
                    limit=float(res.tokens),
                    spent=float(book.spent_tokens),
                    requested=float(completion.usage.total_tokens),
                    unit="tokens",
                    partial=completion.text,
                )
            if answer.text == completion.text:
                return completion
            return completion.model_copy(update={"text": answer.text})

        def on_retry(number: int, exc: ModelError, wait: float) -> None:
            self.tracer.emit(
                RetryEvent,
                step=step,
                agent=agent,
                model=model.label,
                attempt=number,
                wait_s=wait,
                error_type=exc.type_name,
                retry_after_s=exc.retry_after_s,
            )

        if pool is None:  # one slot per call, its retries included
            completion = await self._gated(endpoint, common, lambda: call_with_retry(
                attempt, model.retry, on_retry=on_retry, label=model.label, sleep=self._sleep
            ))  # fmt: skip
        else:
            avoid: set[int] = set()  # replicas that failed an attempt of this call

            async def pooled(number: int, timeout_s: float) -> Completion:
                """An attempt on the replica the pool's policy picks for it, under that
                replica's in-flight gate; the pool's counters follow it."""
                slot, key = self._replica(pool, request, model, number, avoid, step, agent)
                ep = self.endpoint(pool.models[slot])
                ep = ep if adapter is None else _named(ep, adapter)
                streamer = None if stream is None else getattr(ep, "stream", None) or _whole(ep)
                common["replica"], common["ttft_s"] = pool.names[slot], None
                live = self.recorded is None
                if live:  # in flight from the pick on: the next pick sees it
                    pool.sent(slot, key)
                try:  # one slot per attempt: a retry may go to another replica
                    return await self._gated(
                        ep, common, lambda: attempt(number, timeout_s, ep, streamer, slot)
                    )
                except BaseException:
                    avoid.add(slot)
                    raise
                finally:
                    if live:
                        pool.done(slot, common["ttft_s"])

            completion = await call_with_retry(
                pooled, model.retry, on_retry=on_retry, label=model.label, sleep=self._sleep
            )
        if adapter is not None and self.recorded is None:
            self.serving.learn(model, request, adapter, completion)
        return completion

    async def _gated(
        self, endpoint: ModelEndpoint, common: dict[str, Any],
        run: Callable[[], Awaitable[Completion]],
    ) -> Completion:  # fmt: skip
        """``run`` under the endpoint's in-flight gate; a wait worth noting goes into
        ``common`` as ``queued_s`` (the wait itself is not timed out)."""
        waited = self._clock()
        async with getattr(endpoint, "gate", None) or contextlib.nullcontext():
            queued = self._clock() - waited
            common["queued_s"] = queued if queued >= QUEUE_TRACED_S else None
            return await run()

    def _replica(
        self, pool: Pool, request: ModelRequest, model: Model, attempt: int,
        avoid: set[int], step: int, agent: str | None,
    ) -> tuple[int, int | None]:  # fmt: skip
        """Pick the replica for one attempt (a ``replica_pick`` event): its index, and the
        prefix key the pool remembers it by. Raises `NoReplicaError` when none is usable."""
        recorded = self.recorded.pick(agent, model.label) if self.recorded is not None else None
        choice, view, key = choose_replica(
            pool, request.messages, avoid=frozenset(avoid), signals=self.signals,
            recorded=recorded, replay=self.recorded is not None,
        )  # fmt: skip
        names = pool.names
        self.tracer.emit(
            ReplicaPick, step=step, agent=agent, model=model.label,
            policy=model.balance.policy, attempt=attempt, key=key[2] if key else None,
            candidates=tuple(names[i] for i in choice.candidates),
            chosen=None if choice.chosen is None else names[choice.chosen], rule=choice.rule,
            reason=choice.why, in_flight=view.in_flight, ttft_s=view.ttft_s,
            health=view.health, warm=None if view.warm is None else names[view.warm],
            turn=view.turn, avoided=tuple(names[i] for i in sorted(avoid)),
        )  # fmt: skip
        if choice.chosen is None:
            raise NoReplicaError(
                f"{model.label}: every replica is down ({', '.join(names)})",
                provider=model.provider, model=model.label, sent=False,
            )  # fmt: skip
        return choice.chosen, key[0] if key else None

    def _adapter(self, model: Model, request: ModelRequest, step: int, agent: str | None) -> str:
        """Choose the LoRA adapter for one call (an ``adapter_pick`` event)."""
        recorded = self.recorded.adapter(agent, model.label) if self.recorded is not None else None
        choice = choose_for(self.serving, model, request, recorded, self.recorded is not None)
        self.tracer.emit(
            AdapterPick, step=step, agent=agent, model=model.label, chosen=choice.chosen,
            scores=choice.bounds, resident=choice.resident, waived=choice.waived,
            paged=choice.paged, paging_s=choice.paging_s, reason=choice.reason,
        )  # fmt: skip
        return choice.chosen

    async def tool(
        self,
        tool: Tool | None,
        call: ToolCall,
        *,
        step: int,
        agent: str,
        available: bool = True,
        refused: str | None = None,
    ) -> Message:
        """Run one tool call the model asked for; what the model reads back, error or not
        (an unknown, unavailable or failing tool is reported to the model and traced, never
        skipped). A tool whose edges weigh infinity (down) is ``available=False``: not run;
        nor is a call the run refuses (``refused``: why, as the model reads it: a person
        declined it, or it repeats one already made)."""
        started = self._clock()
        try:
            args = json.loads(call.arguments or "{}")
        except (json.JSONDecodeError, RecursionError):
            args = {}
        rec = self.recorded.tool(agent, call) if self.recorded is not None else None
        if rec is not None:  # a replay: what the model read back then
            ok, error, text = rec.ok, rec.error, rec.result if rec.result is not None else ""
        elif refused is not None:
            ok, error, text = False, refused, f"error: {refused}"
        elif available:
            ok, error, text = await self._invoke(tool, call)
        else:
            ok, text = False, f"error: tool {call.name!r} is unavailable right now"
            error = text
        latency = max(0.0, self._clock() - started)
        if refused is None:  # a call that was not made says nothing about the tool's health
            self.outcomes.append(
                Outcome(
                    target=call.name,
                    ok=ok,
                    latency_s=latency,
                    error_type=None if ok else "ToolError",
                )
            )
        self.tracer.emit(
            ToolCallEvent,
            step=step,
            agent=agent,
            tool=call.name,
            call_id=call.id,
            ok=ok,
            latency_s=latency,
            arguments=args if isinstance(args, dict) else {},
            error=error,
            result=text,
        )
        return Message.tool(call.id, call.name, text)

    async def _invoke(self, tool: Tool | None, call: ToolCall) -> tuple[bool, str | None, str]:
        if tool is None:
            text = f"error: no tool named {call.name!r}"
            return False, text, text
        try:
            return True, None, json.dumps(await tool.invoke(call.arguments))
        except ToolError as exc:
            return False, str(exc), f"error: {exc}"

    async def handler(
        self,
        node: str,
        run: Callable[[], Any],
        *,
        step: int,
        attempt: int,
        timeout_s: float,
    ) -> tuple[bool, Any, BaseException | None]:
        """Run a graph node's handler under its timeout. A failure is data for routing,
        never a crash: (ok, value, error)."""
        started = self._clock()
        error: BaseException | None = None
        value: Any = None
        try:
            if self.recorded is not None:
                value = _recorded_node(self.recorded.node(node))
            else:
                value = run()
                if inspect.isawaitable(value):  # a plain function cannot be timed out anyway
                    async with asyncio.timeout(timeout_s):
                        value = await value
        except ReplayMissError:
            raise  # the replay diverged: that is not a node failing
        except Exception as exc:
            error = exc
        latency = max(0.0, self._clock() - started)
        self.outcomes.append(
            Outcome(
                target=node,
                ok=error is None,
                latency_s=latency,
                error_type=type(error).__name__ if error else None,
            )
        )
        result, is_repr = _as_json(value) if error is None else (None, False)
        self.tracer.emit(
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
        return error is None, value, error

    async def program(
        self, agent: str, runner: Callable[[str], Awaitable[str]], task: str, *, step: int
    ) -> str:
        """An agent that is a program of its own (a LangGraph graph, say): hand it the task and
        record its answer, which a replay serves without running the program."""
        started = self._clock()
        try:
            if self.recorded is not None:
                rec = self.recorded.program(agent)
                if not rec.ok or rec.output is None:
                    raise RunError(rec.error or "the recorded program failed")
                output = rec.output
            else:
                output = await runner(task)
                if not isinstance(output, str):
                    raise RunError(f"returned {type(output).__name__}, not a string")
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self._program_outcome(agent, task, step, started, error=exc)
            if isinstance(exc, AgentrouteError):
                raise
            raise RunError(f"agent {agent!r} failed: {error}") from exc
        self._program_outcome(agent, task, step, started, output=output)
        return output

    def _program_outcome(
        self, agent: str, task: str, step: int, started: float, *,
        output: str | None = None, error: BaseException | None = None,
    ) -> None:  # fmt: skip
        latency = max(0.0, self._clock() - started)
        kind = type(error).__name__ if error is not None else None
        self.outcomes.append(Outcome(target=agent, ok=error is None, latency_s=latency,
                                     error_type=kind))  # fmt: skip
        self.tracer.emit(
            AgentRunEvent, step=step, agent=agent, ok=error is None, task=task,
            latency_s=latency, output=output,
            error=f"{kind}: {error}" if error is not None else None,
        )  # fmt: skip

    async def aclose(self) -> None:
        if self._owns:
            for _, ep in self._endpoints.values():
                await ep.aclose()
        self._endpoints.clear()


class EndpointPool:
    """Provider clients shared by the runs of one event loop (a client's connections belong
    to the loop that opened them). Hand `get` to a `ModelCaller` as its connector, with
    ``owns_endpoints=False``; `aclose` closes the running loop's clients."""

    def __init__(self) -> None:
        self._pools: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[Model, ModelEndpoint]
        ] = weakref.WeakKeyDictionary()

    def get(self, model: Model) -> ModelEndpoint:
        pool = self._pools.setdefault(asyncio.get_running_loop(), {})
        endpoint = pool.get(model)
        if endpoint is None:
            endpoint = pool[model] = connect(model)
        return endpoint

    async def aclose(self) -> None:
        for endpoint in self._pools.pop(asyncio.get_running_loop(), {}).values():
            await endpoint.aclose()


def _may_have_run(exc: BaseException) -> bool:
    """Whether a failed attempt may have been served (and billed): everything but an error
    status the server answered with, or a request that provably never left (the connection
    was refused)."""
    if isinstance(exc, ModelError):
        return exc.status is None and exc.sent
    return True  # cancelled, or failed on our side after sending


def _written(completion: Completion) -> int:
    """Characters the model wrote: the text and every tool call's name and arguments."""
    return len(completion.text) + sum(len(c.name) + len(c.arguments) for c in completion.tool_calls)


def _as_json(value: Any) -> tuple[Any, bool]:
    if value is None or type(value) in (str, int, float, bool):  # the common case
        return value, False
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)[:300], True
    return value, False


class RecordedNodeError(Exception):
    """A handler failure served from a trace: it carries the recorded type name."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


def _recorded_node(rec: NodeRunEvent) -> Any:
    if rec.ok:
        return rec.result
    raise type(rec.error_type or "Error", (RecordedNodeError,), {})(
        rec.error_type or "Error", rec.error or ""
    )


def _named(endpoint: ModelEndpoint, name: str) -> ModelEndpoint:
    """``endpoint`` asking for model ``name`` (a LoRA adapter served under its own name) on
    the same connections, where it can; a replay's endpoint answers by label anyway."""
    named = getattr(endpoint, "named", None)
    return endpoint if named is None else named(name)


async def _timed(
    pieces: AsyncIterator[Delta | Completion], first: list[float], clock: Callable[[], float]
) -> AsyncGenerator[Delta | Completion, None]:
    """``pieces`` as they come, noting in ``first`` when the first one arrived."""
    try:
        async for piece in pieces:
            if not first:
                first.append(clock())
            yield piece
    finally:
        close = getattr(pieces, "aclose", None)
        if close is not None:
            await close()


def _whole(endpoint: ModelEndpoint) -> Callable[..., AsyncGenerator[Delta | Completion, None]]:
    """An endpoint that cannot stream, as a stream of one piece: its whole answer."""

    async def stream(
        request: ModelRequest, *, timeout_s: float
    ) -> AsyncGenerator[Completion, None]:
        yield await endpoint.complete(request, timeout_s=timeout_s)

    return stream


PREFILL_OVERHEAD = 256
"""Prompt tokens a prefill costs beyond its own bytes (the words asking to continue it)."""


def _prompt_tokens(request: ModelRequest) -> int:
    """An upper bound on the request's prompt tokens (`estimate_input_tokens`), prefill
    included."""
    tokens = estimate_input_tokens(request.messages, _tools_bytes(request))
    if request.json_schema is not None:  # sent along (response_format, or a system prompt)
        tokens += len(json.dumps(request.json_schema).encode())
    return tokens + (len(request.prefill.encode()) + PREFILL_OVERHEAD if request.prefill else 0)


def _tools_bytes(request: ModelRequest) -> int:
    if not request.tools:
        return 0
    return len(json.dumps([t.model_dump() for t in request.tools]).encode())
