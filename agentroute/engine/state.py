"""The state of one run while the engine moves it: plain data, so a driver can checkpoint
it between units (`RunState.dump` / `RunState.load`). The caches a lane keeps for speed (its
reweighter and goal tree) are rebuilt from the data after a load."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentroute.engine.graph import Choice
from agentroute.errors import rebuild_error
from agentroute.graph import GoalTree, Plan, Reweighter
from agentroute.health import MonitorReport
from agentroute.types import Message, Outcome, ToolCall, Usage, routing_text

MAIN = "main"
"""The name of a run's main lane."""


@dataclass(frozen=True)
class NodeContext:
    """What a node's handler gets: the task, its node name, the results so far, and
    ``facts``, where it may report what it saw for the monitors (for example
    ``facts["ratelimit:search_api"] = 0.8`` from a rate-limit header)."""

    task: str
    node: str
    results: Mapping[str, Any]
    facts: dict[str, float] = field(default_factory=dict)
    previous: str | None = None
    """The node the task came from (``results[previous]`` is what it produced)."""


@dataclass
class Turn:
    """An agent's conversation while it works: the messages so far, the tool calls the
    model asked for and not yet run, and the model variant writing. A failover keeps the
    messages (tool results included), so no tool runs twice."""

    agent: str
    node: str
    messages: list[Message]
    pending: list[ToolCall] = field(default_factory=list)
    rounds: int = 0
    ready: str | None = None
    """An answer already paid for while choosing (agreeing sigma probes)."""
    partial: str = ""
    """The answer so far when its stream broke mid-answer: the next model continues it."""
    fixes: int = 0
    """Answers sent back in a row for not matching the agent's ``output_type``."""


@dataclass
class Lane:
    """One line of work: the main line of the task, or a branch of a fan-out."""

    at: str
    goal: str
    name: str | None = None
    key: str = MAIN
    """This lane's key in `RunState.lanes`."""
    only: str | None = None
    """A branch started for one chosen agent: the route's other agents are not its own."""
    taken: list[str] = field(default_factory=list)
    choices: dict[str, Choice] = field(default_factory=dict)
    turns: dict[str, Turn] = field(default_factory=dict)
    output: str | None = None
    step: int = 0
    """This lane's step count (events and monitors see it; a branch continues its parent's)."""
    scope: int | None = None
    """The ``seq`` of the event this lane's events happen under."""
    status: str = "running"
    """running, then completed, demoted or escalated."""
    reason: str = ""
    via: str | None = None
    """Where a join fan-out rejoins the plan."""
    replan: bool = False
    """A choice was made since the last plan: a new path is a decision, not a reroute."""
    done: bool = False
    waiting: tuple[str, ...] = ()
    """The branches this lane waits for (a fan-out in progress)."""
    demoted: bool = False
    last_failed: str | None = None
    last_error: BaseException | None = None
    plan: Plan | None = None
    signals: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    """The health signals in force as last traced: only changes are traced again."""
    reweighter: Reweighter | None = None
    tree: GoalTree | None = None
    report: MonitorReport | None = None
    """The monitors' report at the last step: the same object again when nothing changed,
    and then there is nothing to trace."""
    weighed: tuple[Any, ...] | None = None
    """What the current weights were computed from: exclusions, choices (a replaced choice
    counts: a handoff), signals."""
    handed: list[str] = field(default_factory=list)
    """The agents that handed this lane's task on (`HandoffEvent`), in order."""


@dataclass
class RunState:
    """Everything one run knows; lanes share it (results, failures, outcomes)."""

    task: str
    lanes: dict[str, Lane]
    results: dict[str, Any] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    excluded: set[str] = field(default_factory=set)
    outcomes: list[Outcome] = field(default_factory=list)
    facts: dict[str, float] = field(default_factory=dict)
    step: int = 0
    usage: Usage = field(default_factory=Usage)
    models_used: list[str] = field(default_factory=list)
    agents: tuple[str, ...] = ()
    route_reason: str = ""
    reroutes: int = 0
    control_calls: int = 0
    """LLM calls made to decide the route of the task (goal demotion), not to answer it."""
    failed_attempts: int = 0
    """Model attempts that failed so far (a switching policy's signal)."""
    intent: dict[str, float] | None = None
    """The task's intent weights, once a chooser inferred them."""
    inflight: dict[str, asyncio.Future[bool]] = field(default_factory=dict)
    history: tuple[Message, ...] = ()
    """The conversation before ``task``: every agent's turn starts with it."""
    question: dict[str, Any] | None = None
    """What the run waits for a person to decide (a paused run), else None."""
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What people decided, by the question's key (a tool call's id)."""

    @property
    def main(self) -> Lane:
        return self.lanes[MAIN]

    def routing_text(self, turns: int = 6) -> str:
        """What routers read: the task, after the last ``turns`` messages of the conversation
        when there is one (a follow-up such as "and the other order?" needs them)."""
        said = [m for m in self.history if m.role in ("user", "assistant") and m.content]
        return routing_text([f"{m.role}: {m.content}" for m in said[-turns:]], self.task)

    def next_step(self) -> int:
        self.step += 1
        return self.step

    def fork(self, lane: Lane, goal: str, name: str, only: str | None = None) -> Lane:
        """A branch of ``lane`` toward ``goal`` (registered with the run)."""
        key = name if name not in self.lanes else f"{name}#{len(self.lanes)}"
        branch = Lane(
            at=lane.at,
            goal=goal,
            name=name,
            only=only,
            step=lane.step,
            scope=lane.scope,
            choices={} if only else dict(lane.choices),
        )
        branch.key = key
        self.lanes[key] = branch
        return branch

    # -- checkpoints --------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """JSON-ready data of the run so far, for a driver's checkpoint."""
        return {
            "task": self.task,
            "lanes": {k: _dump_lane(x) for k, x in self.lanes.items()},
            "results": self.results,
            "answers": self.answers,
            "failures": self.failures,
            "excluded": sorted(self.excluded),
            "step": self.step,
            "usage": [self.usage.input_tokens, self.usage.output_tokens],
            "models_used": self.models_used,
            "agents": list(self.agents),
            "route_reason": self.route_reason,
            "reroutes": self.reroutes,
            "control_calls": self.control_calls,
            "intent": self.intent,
            "failed_attempts": self.failed_attempts,
            "facts": self.facts,
            "outcomes": [dataclasses.astuple(o) for o in self.outcomes],
            "question": self.question,
            "decisions": self.decisions,
            "history": [m.model_dump(mode="json") for m in self.history],
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> RunState:
        return cls(
            task=data["task"],
            lanes={k: _load_lane(x) for k, x in data["lanes"].items()},
            results=dict(data["results"]),
            answers=dict(data["answers"]),
            failures=dict(data["failures"]),
            excluded=set(data["excluded"]),
            step=data["step"],
            usage=Usage(input_tokens=data["usage"][0], output_tokens=data["usage"][1]),
            models_used=list(data["models_used"]),
            agents=tuple(data["agents"]),
            route_reason=data["route_reason"],
            reroutes=data["reroutes"],
            control_calls=data["control_calls"],
            intent=data.get("intent"),
            failed_attempts=data.get("failed_attempts", 0),
            facts=dict(data.get("facts", {})),
            outcomes=[Outcome(*o) for o in data.get("outcomes", [])],
            question=data.get("question"),
            decisions=dict(data.get("decisions", {})),
            history=tuple(Message.model_validate(m) for m in data.get("history", ())),
        )


def _dump_lane(x: Lane) -> dict[str, Any]:
    return {
        "at": x.at,
        "goal": x.goal,
        "name": x.name,
        "key": x.key,
        "only": x.only,
        "taken": list(x.taken),
        "output": x.output,
        "done": x.done,
        "waiting": list(x.waiting),
        "demoted": x.demoted,
        "step": x.step,
        "scope": x.scope,
        "status": x.status,
        "reason": x.reason,
        "via": x.via,
        "last_failed": x.last_failed,
        "error": [type(x.last_error).__name__, str(x.last_error)] if x.last_error else None,
        "choices": {
            k: [list(c.chosen), list(c.standby), list(c.covered)] for k, c in x.choices.items()
        },
        "turns": {k: _dump_turn(t) for k, t in x.turns.items()},
        "handed": list(x.handed),
    }


def _load_lane(d: dict[str, Any]) -> Lane:
    error = rebuild_error(*d["error"]) if d.get("error") else None
    return Lane(
        at=d["at"],
        goal=d["goal"],
        last_failed=d.get("last_failed"),
        last_error=error,
        name=d["name"],
        key=d["key"],
        only=d["only"],
        taken=list(d["taken"]),
        output=d["output"],
        done=d["done"],
        waiting=tuple(d["waiting"]),
        demoted=d["demoted"],
        step=d["step"],
        scope=d["scope"],
        status=d["status"],
        reason=d["reason"],
        via=d["via"],
        choices={k: Choice(*(tuple(x) for x in c)) for k, c in d["choices"].items()},
        turns={k: _load_turn(t) for k, t in d["turns"].items()},
        handed=list(d.get("handed", ())),
    )


def _dump_turn(t: Turn) -> dict[str, Any]:
    return {
        "agent": t.agent,
        "node": t.node,
        "rounds": t.rounds,
        "ready": t.ready,
        "partial": t.partial,
        "fixes": t.fixes,
        "messages": [x.model_dump(mode="json") for x in t.messages],
        "pending": [c.model_dump(mode="json") for c in t.pending],
    }


def _load_turn(d: dict[str, Any]) -> Turn:
    return Turn(
        agent=d["agent"],
        node=d["node"],
        rounds=d["rounds"],
        ready=d["ready"],
        partial=d.get("partial", ""),
        fixes=d.get("fixes", 0),
        messages=[Message.model_validate(x) for x in d["messages"]],
        pending=[ToolCall.model_validate(c) for c in d["pending"]],
    )
