"""The `Router` protocol: given a query and candidates, return a `RouteDecision`.

Routers are pure apart from the model calls they make, so they import only the kernel and can
be tested with scripted completions. A router that reasons with a model uses the ``complete``
function it is handed; a router that chooses among *models* (cascade, sigma, entropy) calls the
candidates themselves through ``Candidate.complete``. Clocks and random generators are passed
in, never read from the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agentroute.errors import RoutingError
from agentroute.types import Completer, RouteDecision


@dataclass(frozen=True)
class Candidate:
    """What a router knows about one agent (or model) it may choose.

    ``examples`` are utterances the candidate should handle (the semantic router reads them);
    ``cost`` is the relative price of one call (model routers order by it); ``complete`` calls
    the candidate itself, for routers that probe models.
    """

    name: str
    description: str
    examples: tuple[str, ...] = ()
    cost: float = 0.0
    complete: Completer | None = field(default=None, compare=False, repr=False)


@runtime_checkable
class Router(Protocol):
    @property
    def name(self) -> str: ...

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision: ...


def check_candidates(router: str, candidates: Sequence[Candidate]) -> None:
    """Raise `RoutingError` when there is nothing to choose from or two candidates share a
    name: every built-in router starts with this."""
    if not candidates:
        raise RoutingError(f"router {router!r} was given no candidates")
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise RoutingError(f"router {router!r}: candidate names repeat: {names}")


def by_cost(router: str, candidates: Sequence[Candidate]) -> list[Candidate]:
    """Callable candidates, cheapest first (stable for equal costs)."""
    check_candidates(router, candidates)
    missing = [c.name for c in candidates if c.complete is None]
    if missing:
        raise RoutingError(f"router {router!r} calls its candidates; {missing} cannot be called")
    return sorted(candidates, key=lambda c: c.cost)


@dataclass(frozen=True)
class FirstRouter:
    """Always the first candidate: the single-agent case, and a baseline."""

    name: str = "first"

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        check_candidates(self.name, candidates)
        return RouteDecision(
            router=self.name, chosen=(candidates[0].name,), reason="first declared agent"
        )
