"""agentroute inside a LangGraph graph of the user's own, and a LangGraph graph inside
agentroute.

- `route_edge`: an agentroute router as a conditional-edge function. It reads the query from
  the state and returns the names of the nodes to run next (one or several: LangGraph runs
  them in parallel), or ``fallback`` when no agent fits.
- `route_node`: the same decision written into the state, for graphs that branch on it later.
- `graph_agent`: a compiled LangGraph graph as one agentroute `Agent`; its answers are traced
  and a replay serves them from the trace without running the graph.

Each routing decision is a ``route`` trace event (and, for routers that call a model, a
``model_call`` event per attempt) on the sinks you pass, inside the budget you give.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from agentroute.agents import Agent
from agentroute.budget import Budget, Ledger
from agentroute.engine.calls import EndpointPool, ModelCaller
from agentroute.errors import ConfigError, RoutingError
from agentroute.models import Model, prepare
from agentroute.routers import Candidate, Router
from agentroute.runtime.candidates import route_traced
from agentroute.trace import Redactor, Sink, Tracer
from agentroute.types import Completion, ModelRequest, RouteDecision

State = Mapping[str, Any]


def _query_from(key: str | Callable[[State], str]) -> Callable[[State], str]:
    if callable(key):
        return key

    def read(state: State) -> str:
        value = state[key]
        if isinstance(value, list) and value:  # a MessagesState: the last message's text
            value = value[-1]
        value = getattr(value, "content", value)
        if isinstance(value, dict):
            value = value.get("content", "")
        if not isinstance(value, str):
            raise ConfigError(f"state[{key!r}] holds no text to route on")
        return value

    return read


class _Decider:
    """Routes on the query read from a graph's state. Each decision gets its own tracer and
    ledger; all share one redactor and the provider clients of their event loop."""

    def __init__(
        self,
        router: Router,
        agents: Sequence[Agent | Candidate],
        query: str | Callable[[State], str],
        model: Model | None,
        budget: Budget | None,
        sinks: Sequence[Sink],
    ) -> None:
        if not isinstance(router, Router):
            raise ConfigError(f"{router!r} does not implement the Router protocol")
        if not agents:
            raise ConfigError("routing needs at least one agent to choose from")
        self.router = router
        self.candidates = [
            a if isinstance(a, Candidate) else Candidate(a.name, a.description, tuple(a.examples))
            for a in agents
        ]
        names = [c.name for c in self.candidates]
        if len(set(names)) != len(names):
            raise ConfigError(f"agent names must be unique: {names}")
        self.read = _query_from(query)
        self.model = model
        self.budget = budget or Budget()
        self.sinks = list(sinks)  # the user's, for many decisions: never closed here
        self._redactor = Redactor()
        self._endpoints = EndpointPool()

    async def decide(self, state: State) -> RouteDecision:
        tracer = Tracer(sinks=self.sinks, redactor=self._redactor)
        complete = None
        if self.model is not None:
            model = self.model
            caller = ModelCaller(tracer, Ledger(self.budget), connector=self._endpoints.get,
                                 owns_endpoints=False)  # fmt: skip
            await prepare([model])

            async def complete(request: ModelRequest) -> Completion:
                return await caller.call(model, request, step=0, purpose="route")

        return await route_traced(
            self.router, self.read(state), self.candidates, complete, tracer=tracer
        )


def route_edge(
    router: Router,
    agents: Sequence[Agent | Candidate],
    *,
    query: str | Callable[[State], str] = "messages",
    model: Model | None = None,
    budget: Budget | None = None,
    sinks: Sequence[Sink] = (),
    fallback: str | None = None,
) -> Callable[[State], Awaitable[list[str]]]:
    """A conditional-edge function: ``graph.add_conditional_edges("triage", route_edge(...))``.

    The agents' names must be the graph's node names. ``query`` is a state key (a string, or a
    message list whose last message is read) or a function of the state. When the router picks
    nobody the edge goes to ``fallback``; without one it raises `RoutingError`.
    """
    decider = _Decider(router, agents, query, model, budget, sinks)

    async def edge(state: State) -> list[str]:
        decision = await decider.decide(state)
        if decision.chosen:
            return list(decision.chosen)
        if fallback is None:
            raise RoutingError(f"no agent fits this request: {decision.reason}")
        return [fallback]

    return edge


def route_node(
    router: Router,
    agents: Sequence[Agent | Candidate],
    *,
    query: str | Callable[[State], str] = "messages",
    model: Model | None = None,
    budget: Budget | None = None,
    sinks: Sequence[Sink] = (),
    key: str = "route",
) -> Callable[[State], Awaitable[dict[str, Any]]]:
    """A node that writes ``{key: {"chosen": [...], "reason": ..., "scores": {...}}}``; the
    other arguments are `route_edge`'s."""
    decider = _Decider(router, agents, query, model, budget, sinks)

    async def node(state: State) -> dict[str, Any]:
        d = await decider.decide(state)
        return {key: {"chosen": list(d.chosen), "reason": d.reason, "scores": dict(d.scores)}}

    return node


def _last_message_text(values: Mapping[str, Any]) -> str:
    messages = values.get("messages")
    if not messages:
        raise RoutingError("the graph's final state has no messages to answer with")
    last = messages[-1]
    text = getattr(last, "content", None)
    if text is None and isinstance(last, dict):
        text = last.get("content")
    if not isinstance(text, str):
        raise RoutingError(f"the graph's last message is not text: {last!r}")
    return text


def graph_agent(
    name: str,
    description: str,
    graph: Any,
    *,
    to_input: Callable[[str], dict[str, Any]] | None = None,
    from_output: Callable[[Mapping[str, Any]], str] = _last_message_text,
    config: Mapping[str, Any] | None = None,
    examples: Sequence[str] = (),
) -> Agent:
    """A compiled LangGraph graph as one agent. By default the task goes in as a user
    message (``{"messages": [{"role": "user", "content": task}]}``) and the last message's
    text comes out; give ``to_input``/``from_output`` for other state shapes."""
    if not hasattr(graph, "ainvoke"):
        raise ConfigError(f"{graph!r} is not a compiled LangGraph graph (no ainvoke); compile it")
    make_input = to_input or (lambda task: {"messages": [{"role": "user", "content": task}]})

    async def run(task: str) -> str:
        values = await graph.ainvoke(make_input(task), dict(config or {}))
        return from_output(values)

    return Agent(name, description, runner=run, examples=tuple(examples))
