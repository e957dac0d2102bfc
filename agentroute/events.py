"""Trace event models: one record per decision, a discriminated union on ``kind``.

Every event carries the schema version ``v``, the run id, a per-run sequence number, the step
it belongs to, its ``kind`` and the graph ``node`` it is about (the node the engine was
deciding at or running when the event happened). Version 2 added ``node``; a version 1 trace
is refused with a message naming ``agentroute trace upgrade``, which converts it. Events hold
numbers and names, never credentials: secrets are kept out at the source and redacted again
at the sink.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = 2


class EventBase(BaseModel):
    # infinite edge weights are real decisions: they travel as "Infinity" in strict JSON
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    def record(self) -> dict[str, Any]:
        """The event as strict-JSON-ready data (what sinks receive and files hold)."""
        data: dict[str, Any] = json.loads(self.model_dump_json())
        return data

    v: int = SCHEMA_VERSION
    run_id: str
    seq: int = Field(ge=0)
    ts: float = Field(ge=0.0, le=1e11)
    """Seconds since the epoch (a trace claiming a time past the year 5000 is not one)."""
    step: int = Field(default=0, ge=0)
    agent: str | None = None
    node: str | None = None
    """The graph node this event is about (None for what concerns the whole run)."""
    parent: int | None = None
    """``seq`` of the event this one happened under (run -> agent or branch -> calls)."""


class RunStart(EventBase):
    kind: Literal["run_start"] = "run_start"
    task: str
    agents: tuple[str, ...]
    router: str
    budget_usd: float | None = None
    nodes: tuple[str, ...] = ()
    """The compiled graph's nodes (agents, model variants, tools, handler nodes)."""
    origin: str | None = None
    """``module:function`` that builds the pipeline, for ``agentroute replay``."""
    streamed: bool = False
    """Answers were streamed (a replay streams them again, from the trace)."""
    history: tuple[dict[str, Any], ...] = ()
    """The conversation before ``task`` (its messages, oldest first): a replay hands it to the
    agents and routers again."""
    prices: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Every model's price (USD per million tokens in and out) and where it came from
    (``declared``, or the price database's entry), by label."""


class RunEnd(EventBase):
    kind: Literal["run_end"] = "run_end"
    status: Literal["ok", "error", "paused"]
    """``paused``: the run waits for a person (a `PauseEvent` says for what)."""
    output: str | None = None
    error_type: str | None = None
    error: str | None = None
    cost_usd: float
    input_tokens: int
    output_tokens: int
    model_calls: int
    wall_s: float


class RouteEvent(EventBase):
    kind: Literal["route"] = "route"
    router: str
    candidates: tuple[str, ...]
    chosen: tuple[str, ...]
    scores: dict[str, float] = Field(default_factory=dict)
    reason: str = ""
    fallback: bool = False


class ModelCallEvent(EventBase):
    """One attempt at one model call, successful or not."""

    kind: Literal["model_call"] = "model_call"
    purpose: str = "answer"
    """What the call was for: route, probe, answer, refine."""
    provider: str
    model: str
    tier: str | None = None
    attempt: int = Field(ge=1)
    ok: bool
    latency_s: float
    input_tokens: int = 0
    output_tokens: int = 0
    usage_reported: bool = True
    cost_usd: float = 0.0
    finish_reason: str | None = None
    confidence: float | None = None
    error_type: str | None = None
    error: str | None = None
    status: int | None = None
    retryable: bool | None = None
    request_hash: str | None = None
    retry_after_s: float | None = None
    sent: bool | None = None
    """For a failed attempt: whether the request may have reached the server (then it is
    billed at its worst case)."""
    response: dict[str, Any] | None = None
    """The whole completion, so a replay can serve it without calling the model."""
    streamed: bool = False
    """The answer came as a stream (its pieces reached the run's listeners as they came)."""
    partial: str | None = None
    """For a streamed attempt that broke mid-answer: the text that had arrived (the next
    attempt, on this model or another, continues from it)."""
    continues: int | None = None
    """For an attempt that continues a broken answer: that answer's length in characters
    (the seam: where the break was)."""
    queued_s: float | None = None
    """How long the call waited for a slot at its endpoint (``Model.max_in_flight``) before
    its first attempt, when that was 1 ms or more."""
    replica: str | None = None
    """For a pooled model: the replica that served this attempt (a `ReplicaPick` says why)."""
    adapter: str | None = None
    """For a model with LoRA adapters: the adapter that served it (an `AdapterPick` says why)."""
    ttft_s: float | None = None
    """For a pooled model: seconds to the first piece of a streamed answer, or to the whole
    answer otherwise (a measurement the replica's balance reads)."""


class ReplicaPick(EventBase):
    """Which replica of a pooled model serves one attempt, and why (`agentroute.models.pool`).
    ``in_flight``, ``ttft_s`` and ``health`` are the pool's state as the pick saw it, one
    entry per replica in declared order: a replay makes the pick again from them."""

    kind: Literal["replica_pick"] = "replica_pick"
    model: str
    policy: str
    attempt: int = Field(ge=1)
    key: str | None = None
    """The prompt prefix's hash (hash policies)."""
    candidates: tuple[str, ...] = ()
    chosen: str | None
    """None when no replica is usable (the call then fails with no attempt sent)."""
    rule: str
    reason: str
    in_flight: tuple[int, ...]
    ttft_s: tuple[float, ...]
    health: tuple[float, ...]
    warm: str | None = None
    """The replica that last served this prefix."""
    turn: int = 0
    avoided: tuple[str, ...] = ()
    """Replicas that failed an earlier attempt of this call."""


class AdapterPick(EventBase):
    """Which LoRA adapter serves one call, and why (`agentroute.routers.adapters`):
    ``scores`` are the bandit's upper confidence bounds on each adapter's quality for this
    query, ``resident`` what the epoch controller keeps in fast memory; a cold adapter's
    paging is charged in the choice. A replay makes the choice again from them."""

    kind: Literal["adapter_pick"] = "adapter_pick"
    model: str
    chosen: str
    scores: dict[str, float]
    resident: tuple[str, ...]
    waived: tuple[str, ...] = ()
    """Cold adapters not tried enough yet, chosen without charging their paging."""
    paged: bool
    paging_s: float
    reason: str


class RetryEvent(EventBase):
    kind: Literal["retry"] = "retry"
    model: str
    attempt: int
    wait_s: float
    error_type: str
    retry_after_s: float | None = None


class ToolCallEvent(EventBase):
    kind: Literal["tool_call"] = "tool_call"
    tool: str
    call_id: str
    ok: bool
    latency_s: float
    arguments: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    result: str | None = None
    """What the model read back: a replay serves it instead of running the tool again."""


class BudgetReserve(EventBase):
    kind: Literal["budget_reserve"] = "budget_reserve"
    model: str
    amount_usd: float
    spent_usd: float
    reserved_usd: float
    limit_usd: float | None
    max_tokens: int


class BudgetSettle(EventBase):
    kind: Literal["budget_settle"] = "budget_settle"
    model: str
    reserved_usd: float
    actual_usd: float
    spent_usd: float
    overshoot_usd: float = 0.0


class BudgetRefused(EventBase):
    kind: Literal["budget_refused"] = "budget_refused"
    model: str
    requested_usd: float
    remaining_usd: float


class ModelSwitch(EventBase):
    """The small/large policy picked a tier, with the signals it looked at."""

    kind: Literal["model_switch"] = "model_switch"
    policy: str
    from_model: str | None
    to_model: str
    reason: str
    signals: dict[str, float] = Field(default_factory=dict)


class Escalation(EventBase):
    """No feasible path or a limit was hit: the task is demoted or handed back, never
    silently dropped."""

    kind: Literal["escalation"] = "escalation"
    reason: str
    detail: dict[str, Any] = Field(default_factory=dict)


class HandoffEvent(EventBase):
    """An agent's model handed the task to another agent (its ``transfer_to_...`` tool): the
    other agent answers, in the same run and budget."""

    kind: Literal["handoff"] = "handoff"
    to: str
    reason: str = ""


class RoundEvent(EventBase):
    """One round of a multi-round agent (Router-R1): what its model decided. ``route``: a
    sub-question (``query``) for the pool model ``model``, whose answer comes back in the next
    round; ``answer``: the final answer (the run's output); ``format_error``: an action that
    could not be followed (``problem``, ``error``), which ends the round: the model is told
    what was wrong, or on the last round the turn fails. ``values`` are the pool's values
    under ``cost_weight`` and ``effect`` says, in words, where the choice ranks by them."""

    kind: Literal["round"] = "round"
    round: int = Field(ge=1)
    action: Literal["route", "answer", "format_error"]
    model: str | None = None
    query: str | None = None
    think: str = ""
    offered: tuple[str, ...] = ()
    """The pool models the round could route to (those failed or down are left out)."""
    final: bool = False
    """The last round: only an answer was allowed."""
    cost_weight: float = 0.0
    values: dict[str, float] = Field(default_factory=dict)
    effect: str = ""
    problem: str | None = None
    error: str | None = None


class OutputCheck(EventBase):
    """An answer checked against its agent's ``output_type``: valid, or what is wrong (the
    model is asked again, or the next model takes over)."""

    kind: Literal["output_check"] = "output_check"
    model: str
    ok: bool
    error: str | None = None


class PauseEvent(EventBase):
    """The run stops to wait for a person: ``question`` says what to decide (``kind``:
    ``approve_tool``, with the agent, tool and arguments; ``escalation``, with the reason and
    the lesser goals). It goes on from its checkpoint once someone decides (a `DecisionEvent`
    in the trace of the run that goes on)."""

    kind: Literal["pause"] = "pause"
    question: dict[str, Any]


class DecisionEvent(EventBase):
    """What a person decided about a paused run's question."""

    kind: Literal["decision"] = "decision"
    question: dict[str, Any]
    decision: Literal["approve", "reject", "answer", "goal", "cancel"]
    why: str = ""
    """Why (a rejection, a cancellation), the person's answer, or the lesser goal chosen."""


class SignalState(BaseModel):
    """One signal in force, as a `HealthStateEvent` lists it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    monitor: str
    target: str
    signal: str
    priority: float
    multiplier: float
    down: bool
    action: str = "reweight"
    winner: bool = False
    detail: dict[str, float | str] = Field(default_factory=dict)


class HealthSignalEvent(EventBase, SignalState):
    """A monitor's signal that changed the graph or claimed the control decision."""

    kind: Literal["health_signal"] = "health_signal"


class HealthStateEvent(EventBase):
    """The signals in force when a lane first looks (a new run inherits the monitors' state):
    one event for them all instead of one per signal. Later changes are `HealthSignalEvent`s."""

    kind: Literal["health_state"] = "health_state"
    signals: tuple[SignalState, ...]


class ReweightEvent(EventBase):
    """Edge weights that changed since the last step: ``[src, dst, old, new]`` rows."""

    kind: Literal["reweight"] = "reweight"
    changes: tuple[tuple[str, str, float, float], ...]


class PathEvent(EventBase):
    kind: Literal["path"] = "path"
    source: str
    goal: str
    path: tuple[str, ...]
    cost: float


class RerouteEvent(EventBase):
    """The plan changed: why, from which path to which, with no LLM call."""

    kind: Literal["reroute"] = "reroute"
    failed: str | None
    reason: str
    old_path: tuple[str, ...]
    new_path: tuple[str, ...]
    new_cost: float


class FanOutEvent(EventBase):
    """Branches started concurrently to reach the prerequisites of a join."""

    kind: Literal["fanout"] = "fanout"
    join: str
    source: str
    branches: tuple[str, ...]


class NodeRunEvent(EventBase):
    kind: Literal["node_run"] = "node_run"
    node: str
    attempt: int
    ok: bool
    latency_s: float
    error_type: str | None = None
    error: str | None = None
    result: Any = None
    """The handler's return value when it is JSON; otherwise its repr (``result_is_repr``)."""
    result_is_repr: bool = False


class AntStepEvent(EventBase):
    """One ant-colony choice: the candidates' probabilities, the draw and what was picked."""

    kind: Literal["ant_step"] = "ant_step"
    stage: int
    previous: str
    chosen: str
    probabilities: dict[str, float]
    task_weights: dict[str, float] = Field(default_factory=dict)
    draw: float | None = None
    """The uniform number in [0, 1) the pick used (`agentroute.aco.ant_pick`); a replay picks
    again from it and the recorded probabilities."""


class PheromoneUpdateEvent(EventBase):
    """A background pheromone update: what the quality gate said and how each edge moved
    (``[task_type, src, dst, old, new]`` rows)."""

    kind: Literal["pheromone_update"] = "pheromone_update"
    path: tuple[str, ...]
    quality: float
    cost: float
    passed_gate: bool
    deltas: tuple[tuple[str, str, str, float, float], ...] = ()


class AgentRunEvent(EventBase):
    """An agent that is a program of its own (a LangGraph graph, say) answered or failed;
    the answer is recorded so a replay does not run the program again."""

    kind: Literal["agent_run"] = "agent_run"
    task: str
    ok: bool
    latency_s: float
    output: str | None = None
    error: str | None = None


class ResumeEvent(EventBase):
    """A durable run picked up from its last checkpoint in a new process (or after an error):
    what had finished before, and what it had already spent."""

    kind: Literal["resume"] = "resume"
    thread_id: str
    checkpoint_id: str | None = None
    done_steps: int
    spent_usd: float
    model_calls: int
    next_nodes: tuple[str, ...] = ()


class TaskRetryEvent(EventBase):
    """This run is a retry of a task whose earlier attempt died with its worker: which
    attempt it is, and what the earlier attempts were charged (worst cases included)."""

    kind: Literal["task_retry"] = "task_retry"
    task_id: str
    attempt: int
    charged_before_usd: float


TraceEvent = Annotated[
    RunStart
    | RunEnd
    | RouteEvent
    | ModelCallEvent
    | ReplicaPick
    | AdapterPick
    | RetryEvent
    | ToolCallEvent
    | BudgetReserve
    | BudgetSettle
    | BudgetRefused
    | ModelSwitch
    | Escalation
    | HandoffEvent
    | PauseEvent
    | DecisionEvent
    | OutputCheck
    | RoundEvent
    | HealthSignalEvent
    | HealthStateEvent
    | ReweightEvent
    | PathEvent
    | RerouteEvent
    | FanOutEvent
    | NodeRunEvent
    | AntStepEvent
    | PheromoneUpdateEvent
    | AgentRunEvent
    | ResumeEvent
    | TaskRetryEvent,
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[TraceEvent] = TypeAdapter(TraceEvent)
EVENT_KINDS: tuple[str, ...] = tuple(
    str(member.model_fields["kind"].default) for member in get_args(get_args(TraceEvent)[0])
)
