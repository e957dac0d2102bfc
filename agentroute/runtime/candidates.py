"""Models as router candidates, for the routers that call models themselves (cascade, sigma,
entropy). Each candidate's ``complete`` goes through a `ModelCaller`: the one retry layer, the
budget ledger (reserve before, settle after) and a ``model_call`` trace event per attempt.
Its ``cost`` is the model's price per million input plus output tokens.

    async with ModelCandidates([small, large], budget=Budget(usd=0.01)) as candidates:
        decision = await route_traced(CascadeRouter(), question, candidates, tracer=...)
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from agentroute.budget import Budget, Ledger
from agentroute.engine.calls import ModelCaller
from agentroute.engine.choosers import record_route
from agentroute.errors import ConfigError
from agentroute.models import Model, prepare
from agentroute.routers import Candidate, Router
from agentroute.trace import Tracer
from agentroute.types import Completer, Completion, ModelRequest, RouteDecision


class ModelCandidates:
    def __init__(
        self,
        models: Sequence[Model],
        *,
        budget: Budget | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        labels = [m.label for m in models]
        if not models or len(set(labels)) != len(labels):
            raise ConfigError(f"need distinct models to route between, got {labels}")
        self.models = list(models)
        self.tracer = tracer or Tracer()
        self.ledger = Ledger(budget or Budget())
        self.caller = ModelCaller(self.tracer, self.ledger)

    async def __aenter__(self) -> list[Candidate]:
        await prepare(self.models)
        return [
            Candidate(
                name=m.label,
                description=f"{m.tier} model {m.name}",
                cost=m.price.input_per_mtok + m.price.output_per_mtok,
                complete=self._completer(m),
            )
            for m in self.models
        ]

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.caller.aclose()

    def _completer(self, model: Model) -> Completer:
        async def complete(request: ModelRequest) -> Completion:
            return await self.caller.call(model, request, step=0, purpose="route")

        return complete


async def route_traced(
    router: Router,
    query: str,
    candidates: Sequence[Candidate],
    complete: Completer | None = None,
    *,
    tracer: Tracer,
    step: int = 0,
) -> RouteDecision:
    """Run ``router`` and record its decision as a ``route`` event on ``tracer``."""
    decision = await router.route(query, candidates, complete)
    record_route(tracer, decision, candidates, step)
    return decision
