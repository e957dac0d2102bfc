"""Models as router candidates, for the routers that call models themselves (cascade, sigma,
entropy): each candidate's ``complete`` goes through the model's endpoint and the one retry
layer, and its ``cost`` is the model's price per million input plus output tokens.

    async with ModelCandidates([small, large]) as candidates:
        decision = await CascadeRouter().route(question, candidates, None)
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from agentroute.errors import ConfigError
from agentroute.models import Model, ModelEndpoint, connect, prepare
from agentroute.models.retry import call_with_retry
from agentroute.routers import Candidate
from agentroute.types import Completer, Completion, ModelRequest


class ModelCandidates:
    def __init__(self, models: Sequence[Model]) -> None:
        labels = [m.label for m in models]
        if not models or len(set(labels)) != len(labels):
            raise ConfigError(f"need distinct models to route between, got {labels}")
        self.models = list(models)
        self._endpoints: list[ModelEndpoint] = []

    async def __aenter__(self) -> list[Candidate]:
        await prepare(self.models)
        self._endpoints = [connect(m) for m in self.models]
        return [
            Candidate(
                name=m.label,
                description=f"{m.tier} model {m.name}",
                cost=m.price.input_per_mtok + m.price.output_per_mtok,
                complete=_completer(m, ep),
            )
            for m, ep in zip(self.models, self._endpoints, strict=True)
        ]

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for ep in self._endpoints:
            await ep.aclose()
        self._endpoints = []


def _completer(model: Model, endpoint: ModelEndpoint) -> Completer:
    async def complete(request: ModelRequest) -> Completion:
        return await call_with_retry(
            lambda _n, timeout_s: endpoint.complete(request, timeout_s=timeout_s),
            model.retry,
            label=model.label,
        )

    return complete
