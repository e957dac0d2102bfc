"""The `Router` protocol: given a query and candidates, return a `RouteDecision`.

Routers are pure apart from the model calls they make through the ``complete`` function they
are handed, so they import only the kernel and can be tested with scripted completions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agentroute.types import Completer, RouteDecision


@dataclass(frozen=True)
class Candidate:
    """What a router knows about one agent (or model) it may choose."""

    name: str
    description: str


@runtime_checkable
class Router(Protocol):
    @property
    def name(self) -> str: ...

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision: ...


@dataclass(frozen=True)
class FirstRouter:
    """Always the first candidate: the single-agent case, and a baseline."""

    name: str = "first"

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        return RouteDecision(
            router=self.name, chosen=(candidates[0].name,), reason="first declared agent"
        )
