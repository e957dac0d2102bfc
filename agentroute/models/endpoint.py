"""The one narrow seam to outside model servers."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from agentroute.types import Completion, ModelRequest


@runtime_checkable
class ModelEndpoint(Protocol):
    """A live connection to one model. Implementations translate provider errors into
    `agentroute.errors.ModelError` subclasses and never retry on their own."""

    provider: str
    model: str

    async def complete(self, request: ModelRequest, *, timeout_s: float) -> Completion: ...

    async def aclose(self) -> None: ...
