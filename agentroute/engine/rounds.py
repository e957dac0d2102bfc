"""Multi-round agents (`Agent.pool`, Router-R1) in the engine: their rounds are units of the
one loop, not a loop of their own.

A multi-round agent's turn is an ordinary turn on one of its model variants (the switching
policy picked it; a failure fails over to the agent's next model with the messages kept). Each
unit of the turn does one of two things:

- no sub-question pending: ask the agent's model for its next action (a ``round`` model call
  through the run's caller: budget reserved and settled, retried, traced), parse it with the
  router's pure parser (`agentroute.routers.multi_round.parse_action`) and record the decision
  as a ``round`` event. A route action becomes the turn's pending call; an answer ends the
  turn; an action that cannot be followed is a format error that ends the round visibly (the
  event, then the model reads what was wrong), and on the last round fails the turn like a
  bad response (`ResponseFormatError`: the next model of the agent takes over, or the task
  escalates).
- a sub-question pending: send it to the chosen pool model through the same caller (a
  ``consult`` model call), and append its answer to the agent's messages for the next round.
  A pool model that fails for good, or that the budget cannot pay for, gives no answer: the
  agent's model reads why, and a failed one is not offered again in this task.

So every round is a decision in the trace and every call is booked against the budget; the
turn's state (messages, the pending sub-question, the rounds done) is the turn's ordinary
state, checkpointed by the durable drivers like any other; and a replay serves every call from
the trace.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

from agentroute.agents import Agent
from agentroute.budget import Ledger, estimate_input_tokens
from agentroute.engine.calls import ENDPOINT_DOWN, MIN_USEFUL_TOKENS, ModelCaller
from agentroute.engine.state import Lane, RunState, Turn
from agentroute.errors import ActionFormatError, ConfigError, ModelError, ResponseFormatError
from agentroute.events import BudgetRefused, RoundEvent
from agentroute.health import MonitorReport
from agentroute.models import Model
from agentroute.routers.multi_round import (
    THINK_CHARS,
    MultiRoundRouter,
    RouteAction,
    effect,
    values,
    within,
)
from agentroute.trace import Tracer
from agentroute.types import Completion, Message, ModelRequest, ToolCall

CONSULT = "route"
"""The name of a turn's pending call that is a sub-question for a pool model."""


class Session(Protocol):
    """What the rounds use of the run."""

    tracer: Tracer
    state: RunState
    caller: ModelCaller

    async def complete(
        self, model: Model, request: ModelRequest, *, lane: Lane, agent: str | None, purpose: str
    ) -> Completion: ...

    def ledger_for(self, agent: str | None) -> Ledger: ...


def router(agent: Agent) -> MultiRoundRouter:
    assert agent.rounds is not None
    return agent.rounds


def opening(agent: Agent, history: Sequence[Message], prompt: str) -> list[Message]:
    """A multi-round turn's first messages: the router's instructions and pool, the
    conversation so far, the question."""
    system = router(agent).system(agent.members, agent.instructions)
    return [Message.system(system), *history, Message.user(prompt)]


def offered(agent: Agent, state: RunState, report: MonitorReport | None) -> tuple[str, ...]:
    """The pool models a round may route to, best value first (the order the router reads
    them in, and the schema's): not failed in this task, not down by the monitors, and
    within the router's ``value_margin`` of the best of those."""
    down = {s.target for s in report.signals if s.down} if report is not None else set()
    policy = router(agent)
    unusable = set(state.excluded) | down
    return tuple(within(agent.members, policy.cost_weight, policy.value_margin, unusable))


def is_final(agent: Agent, turn: Turn, offers: Sequence[str]) -> bool:
    """The next round is the last (or nothing is left to route to): it must answer."""
    return turn.rounds + 1 >= router(agent).max_rounds or not offers


def request(agent: Agent, turn: Turn, offers: Sequence[str], final: bool) -> ModelRequest:
    """The next round's request; constrained, its answer is held to the round's schema."""
    policy = router(agent)
    return ModelRequest(
        messages=tuple(turn.messages),
        max_tokens=agent.max_tokens,
        temperature=agent.temperature,
        json_schema=policy.schema(offers, final) if policy.constrained else None,
    )


def read(
    tracer: Tracer,
    lane: Lane,
    agent: Agent,
    turn: Turn,
    text: str,
    offers: tuple[str, ...],
    final: bool,
) -> str | None:
    """Take one round's action: its ``round`` event, then the answer (returned), the pending
    sub-question, or, for a format error, what the model reads next. A format error on the
    final round raises `ResponseFormatError` (the turn fails)."""
    policy = router(agent)
    pool = tuple(m.name for m in agent.members)
    turn.rounds += 1
    worth = values(agent.members, policy.cost_weight)
    said = {"step": lane.step, "agent": agent.name, "round": turn.rounds, "offered": offers,
            "final": final, "cost_weight": policy.cost_weight, "values": worth}  # fmt: skip
    try:
        action = policy.parse(text, offers, pool, final)
    except ActionFormatError as exc:
        tracer.emit(RoundEvent, **said, action="format_error", problem=exc.problem,
                    error=str(exc), effect=effect(None, worth, policy.cost_weight))  # fmt: skip
        if final:
            raise ResponseFormatError(
                f"{agent.name}: the last round's action could not be followed: {exc}"
            ) from exc
        told = policy.correction(str(exc), turn.rounds)
        turn.messages += [Message.assistant(text), Message.user(told)]
        return None
    think = action.think[:THINK_CHARS]
    if not isinstance(action, RouteAction):
        tracer.emit(RoundEvent, **said, action="answer", think=think,
                    effect=effect(None, worth, policy.cost_weight))  # fmt: skip
        return action.answer
    tracer.emit(RoundEvent, **said, action="route", model=action.model, query=action.query,
                think=think, effect=effect(action.model, worth, policy.cost_weight))  # fmt: skip
    turn.messages.append(Message.assistant(text))
    arguments = json.dumps({"model": action.model, "query": action.query}, ensure_ascii=False)
    turn.pending = [ToolCall(id=f"round-{turn.rounds}", name=CONSULT, arguments=arguments)]
    return None


async def consult(
    session: Session, lane: Lane, agent: Agent, turn: Turn
) -> tuple[str, ModelError] | None:
    """Send the pending sub-question to its pool model; its answer (or why there is none)
    joins the turn's messages. Returns the model's label and error when it failed for good
    (the loop takes the endpoint out of the task)."""
    policy = router(agent)
    call = turn.pending.pop(0)
    asked = json.loads(call.arguments)
    found = [p.model for p in agent.pool if p.model.label == asked["model"]]
    if not found:  # only a checkpoint taken under another declaration can say this
        raise ConfigError(f"{agent.name}: {asked['model']!r} is no longer in the pool")
    model = found[0]
    req = ModelRequest(
        messages=(Message.system(policy.consult_instructions), Message.user(asked["query"])),
        max_tokens=policy.consult_tokens,
        temperature=0.0,
    )
    ledger = session.ledger_for(agent.name)
    if session.caller.affordable(model, req, ledger) < MIN_USEFUL_TOKENS:
        want = model.price.worst_case(estimate_input_tokens(req.messages, 0), req.max_tokens)
        session.tracer.emit(BudgetRefused, step=lane.step, agent=agent.name, model=model.label,
                            requested_usd=want, remaining_usd=ledger.remaining_usd())  # fmt: skip
        why = "what is left of the budget cannot pay for it"
        turn.messages.append(Message.user(policy.refused(model.label, why, turn.rounds)))
        return None
    try:
        completion = await session.complete(
            model, req, lane=lane, agent=agent.name, purpose="consult"
        )
    except ModelError as exc:
        if isinstance(exc, ENDPOINT_DOWN):  # about this request only: the model stays
            why = f"it could not answer this request ({exc.type_name})"
        else:
            why = f"it failed ({exc.type_name}) and is out of this task"
        turn.messages.append(Message.user(policy.refused(model.label, why, turn.rounds)))
        return None if isinstance(exc, ENDPOINT_DOWN) else (model.label, exc)
    told = policy.information(model.label, completion.text, turn.rounds)
    turn.messages.append(Message.user(told))
    return None
