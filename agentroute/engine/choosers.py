"""Choosers: what decides at a branch point of the graph, where Dijkstra alone cannot.

- `RouteChooser` at ``^route``: a `Router` (reasoning, semantic, ant colony, ...) picks the
  agents; the agents they hand off to stand by.
- `SwitchChooser` at an agent: the switching policy picks the tier (after a one-token probe or
  sigma probes when it wants them, and with the step's prompt read into signals when the policy
  has ``prompt_signals``), the ledger downshifts what the budget cannot pay for; the agent's
  failover order stands by.
- `AntChooser` at a colony stage: pheromones fused by the task's intent weights, the ant rule.

The decisions themselves are the routers', policies' and colony's pure functions; a chooser
gathers their inputs (through the session's one caller when a model must be asked), records
the decision as a trace event and returns a `Choice`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from agentroute.aco import START, Colony, ant_pick
from agentroute.agents import Agent
from agentroute.budget import Ledger, SwitchPolicy
from agentroute.engine.calls import ModelCaller
from agentroute.engine.graph import ROUTE, Choice, RunGraph, failover, handoffs
from agentroute.engine.state import Lane, RunState
from agentroute.errors import ModelError, RunError, TraceError
from agentroute.events import AntStepEvent, Escalation, ModelSwitch, RouteEvent
from agentroute.models import Model
from agentroute.routers import Candidate, Router, normalize, sigma
from agentroute.trace import Tracer
from agentroute.types import Completion, Message, ModelRequest, RouteDecision


class Session(Protocol):
    """What a chooser may use of the run it decides for."""

    tracer: Tracer
    state: RunState
    graph: RunGraph
    caller: ModelCaller

    async def complete(
        self,
        model: Model,
        request: ModelRequest,
        *,
        lane: Lane,
        agent: str | None,
        purpose: str,
    ) -> Completion: ...

    def ledger_for(self, agent: str | None) -> Ledger: ...


class Chooser(Protocol):
    async def choose(self, node: str, lane: Lane, session: Session) -> Choice: ...


class RouteChooser:
    """A `Router` at the route: its decision is a ``route`` event; "none fits" an escalation
    (the returned choice is empty)."""

    def __init__(self, router: Router, agents: Mapping[str, Agent], model: Model) -> None:
        self.router, self.agents, self.model = router, agents, model
        self.candidates = [
            Candidate(a.name, a.description, tuple(a.examples)) for a in agents.values()
        ]

    async def choose(self, node: str, lane: Lane, session: Session) -> Choice:
        async def complete(request: ModelRequest) -> Completion:
            return await session.complete(
                self.model, request, lane=lane, agent=None, purpose="route"
            )

        decision = await self.router.route(session.state.routing_text(), self.candidates, complete)
        unknown = [c for c in decision.chosen if c not in self.agents]
        if unknown:
            raise RunError(f"router {self.router.name!r} chose unknown agents {unknown}")
        event = record_route(session.tracer, decision, self.candidates, lane.step)
        session.state.agents, session.state.route_reason = decision.chosen, decision.reason
        lane.scope = event.seq
        if not decision.chosen:
            session.tracer.emit(
                Escalation,
                step=lane.step,
                parent=event.seq,
                reason=decision.reason,
                detail={"router": decision.router, "scores": decision.scores},
            )
        chosen: tuple[str, ...] = decision.chosen
        rest: tuple[str, ...] = ()
        if node != ROUTE:  # inside a hand-built graph one agent goes on; the others stand by
            chosen, rest = decision.chosen[:1], decision.chosen[1:]
        return Choice(chosen, (*rest, *handoffs(self.agents, chosen)))


def record_route(
    tracer: Tracer, decision: RouteDecision, candidates: Sequence[Candidate], step: int
) -> RouteEvent:
    """The ``route`` event for a decision: candidates, choice, scores, reason."""
    return tracer.emit(
        RouteEvent, step=step, router=decision.router,
        candidates=tuple(c.name for c in candidates), chosen=decision.chosen,
        scores=dict(decision.scores), reason=decision.reason, fallback=decision.fallback,
    )  # fmt: skip


class SwitchChooser:
    """The switching policy at an agent node, with the budget's downshift."""

    def __init__(self, agent: Agent, policy: SwitchPolicy) -> None:
        self.agent, self.policy = agent, policy

    async def choose(self, node: str, lane: Lane, session: Session) -> Choice:
        agent, policy = self.agent, self.policy
        turn = lane.turns[agent.name]
        messages = tuple(turn.messages)
        tiers = tuple(m.tier for m in agent.models)
        ledger = session.ledger_for(agent.name)
        signals = self._signals(lane, session)
        read_prompt = getattr(policy, "prompt_signals", None)
        if read_prompt is not None and len(tiers) > 1:
            signals.update(read_prompt(step_text(messages)))
        smallest = agent.models[0]
        if policy.probe_top_logprobs and len(tiers) > 1 and smallest.provider != "anthropic":
            request = ModelRequest(
                messages=messages, max_tokens=1, logprobs=True,
                top_logprobs=policy.probe_top_logprobs, tools=tuple(t.spec for t in agent.tools),
            )  # fmt: skip
            try:
                probe = await session.complete(
                    smallest, request, lane=lane, agent=agent.name, purpose="probe"
                )
            except ModelError:  # traced; the policy decides without the signal
                signals["probe_failed"] = 1.0
            else:
                if probe.logprobs:
                    signals["first_token_entropy"] = probe.logprobs[0].entropy()
                    signals["first_token_prob"] = probe.logprobs[0].prob
        sigma_probes = getattr(policy, "sigma_probes", 0)
        if sigma_probes and len(tiers) > 1 and not agent.tools and not agent.pool:
            try:
                signals["sigma"], turn.ready = await self._sigma(
                    lane, session, smallest, sigma_probes
                )
            except ModelError:  # traced; the policy decides without the signal
                signals["probe_failed"] = 1.0
        decision = policy.choose(tiers, signals)
        model = next(m for m in agent.models if m.tier == decision.tier)
        model, reason = self._afford(model, decision.reason, messages, ledger, session.caller)
        if model is not smallest:
            turn.ready = None  # the agreed small answer is not the chosen writer's
        session.tracer.emit(
            ModelSwitch,
            step=lane.step,
            agent=agent.name,
            policy=policy.name,
            from_model=None,
            to_model=model.label,
            reason=reason,
            signals=decision.signals,
        )
        variant = session.graph.variant(agent.name, model.label)
        turn.node = variant
        standby = tuple(session.graph.variant(agent.name, m.label) for m in failover(agent, model))
        return Choice((variant,), standby)

    def _signals(self, lane: Lane, session: Session) -> dict[str, float]:
        signals = {
            "step": float(lane.step),
            "recent_failures": float(session.caller.failed_attempts),
        }
        budget = session.ledger_for(None).budget.usd
        if budget:
            signals["remaining_ratio"] = session.ledger_for(None).remaining_usd() / budget
        return signals

    def _afford(
        self,
        model: Model,
        reason: str,
        messages: tuple[Any, ...],
        ledger: Ledger,
        caller: ModelCaller,
    ) -> tuple[Model, str]:
        """Downshift while the budget cannot pay for the chosen tier's worst case."""
        agent = self.agent
        request = ModelRequest(
            messages=messages, max_tokens=agent.max_tokens, tools=tuple(t.spec for t in agent.tools)
        )
        index = agent.models.index(model)
        while index > 0 and caller.affordable(model, request, ledger) < agent.max_tokens:
            index -= 1
            reason += f"; budget cannot pay for {model.label}: downshift"
            model = agent.models[index]
        return model, reason

    async def _sigma(
        self, lane: Lane, session: Session, model: Model, n: int
    ) -> tuple[float, str | None]:
        """Sample ``n`` answers; sigma and, when all agree, one of them (already paid for)."""
        from agentroute.engine.concurrency import all_or_cancel

        messages = tuple(lane.turns[self.agent.name].messages)
        done = await all_or_cancel(
            [
                session.complete(
                    model,
                    ModelRequest(
                        messages=messages,
                        max_tokens=self.agent.max_tokens,
                        temperature=0.7,
                        seed=i,
                    ),
                    lane=lane,
                    agent=self.agent.name,
                    purpose="probe",
                )
                for i in range(n)
            ]
        )
        keys = [normalize(c.text) for c in done]
        s = sigma(keys)
        return s, (done[0].text if s == 0.0 and keys[0] else None)


def step_text(messages: Sequence[Message]) -> str:
    """What a step answers: its last user message (the task, on an agent's first step)."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


class AntChooser:
    """The ant rule at a colony stage: tau(fused by the task's intent weights)^alpha x
    eta^beta. The intent weights are inferred once per run. A live pick goes into the colony's
    in-flight ledger under the run's id until the run's outcome settles it
    (`ColonyRunner`). In a replay the pheromone tables and the ledger of the time are gone:
    the recorded probabilities and draw stand in for them (as recorded health signals stand
    in for monitors), the pick is made again from them, and the ledger is left alone."""

    def __init__(self, colony: Colony, stage: int, intent: Callable[[str], Any]) -> None:
        self.colony, self.stage, self.intent = colony, stage, intent

    async def choose(self, node: str, lane: Lane, session: Session) -> Choice:
        previous = START if self.stage == 0 else node
        recorded = session.caller.recorded
        if recorded is not None:
            rec = recorded.ant_step(self.stage, previous)
            weights, p, draw = dict(rec.task_weights), rec.probabilities, rec.draw
            session.state.intent = weights
        else:
            weights, p = await self._live(previous, session)
            draw = self.colony.rng.random()
        if draw is None:
            raise TraceError(f"the ant step at stage {self.stage} records no draw to pick again")
        pick = ant_pick(p, draw)
        if recorded is None:
            self.colony.dispatch(session.tracer.run_id, previous, pick, weights)
        session.tracer.emit(
            AntStepEvent,
            step=lane.step,
            stage=self.stage,
            previous=previous,
            chosen=pick,
            probabilities=p,
            task_weights=dict(weights),
            draw=draw,
        )
        return Choice((pick,))

    async def _live(
        self, previous: str, session: Session
    ) -> tuple[dict[str, float], dict[str, float]]:
        weights = session.state.intent
        if weights is None:
            raw = self.intent(session.state.task)
            raw = await raw if inspect.isawaitable(raw) else raw
            weights = session.state.intent = self.colony.memory.check_weights(raw)
        stage = self.colony.stages[self.stage]
        return weights, self.colony.probabilities(previous, stage, weights)
