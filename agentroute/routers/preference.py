"""Preference router: routes written as plain-language policies, matched by a small model.

After Arch-Router (arXiv 2506.16655): instead of describing agents, the user writes the
routes they want as domain and action policies (``"billing / refund"``: "asks for money back
for a charge or an order") and maps each to an agent. A small generative model reads the
routes and the conversation (the router is given the last turns with the new message, so a
change of intent in the middle of a conversation is followed) and names one route, or
``other`` when none applies. The answer is held to the route names at the server (a JSON
schema; llama.cpp turns it into a grammar), so it cannot name a route that does not exist. A
new route is one more line: nothing is trained.

``other`` goes to ``default`` when one is set, or is an empty choice (no agent fits: the
runtime escalates). A route whose agent is not among the candidates is left out of the prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentroute.errors import ConfigError, RoutingError
from agentroute.routers.base import Candidate, check_candidates
from agentroute.types import Completer, Message, ModelRequest, RouteDecision

OTHER = "other"
_SYSTEM = (
    "You match a conversation with a user to one of the routes below, each a domain and an "
    "action with a policy that says when it applies. Read the conversation, mostly its last "
    "user message, and name the one route whose policy fits it, or other when none does. "
    'Answer in JSON: {"route": "<route name>"}.'
)
_OTHER_LINE = f"- {OTHER}: none of the routes above; the conversation is about something else"


@dataclass(frozen=True)
class Route:
    """One route: its ``name`` (``"domain / action"``), the ``policy`` that says when it
    applies, in plain language, the agent it goes ``to``, and optionally ``examples`` of
    messages it is for (shown to the model beside the policy)."""

    name: str
    policy: str
    to: str
    examples: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name.strip() or not self.policy.strip() or not self.to.strip():
            raise ConfigError("a route needs a name, a policy and an agent to go to")
        if self.name.strip().lower() == OTHER:
            raise ConfigError(f"{OTHER!r} is the answer for no route; name the route otherwise")


def _line(route: Route) -> str:
    said = "; ".join(f'"{e}"' for e in route.examples)
    return f"- {route.name}: {route.policy}" + (f" (for example {said})" if said else "")


@dataclass(frozen=True)
class PreferenceRouter:
    routes: tuple[Route, ...]
    default: str | None = None
    max_tokens: int = 32
    name: str = "preference"

    def __post_init__(self) -> None:
        names = [r.name for r in self.routes]
        if not names:
            raise ConfigError("a preference router needs at least one route")
        if len(set(names)) != len(names):
            raise ConfigError(f"route names must be unique: {names}")
        if self.max_tokens < 8:
            raise ConfigError(f"max_tokens must be at least 8, not {self.max_tokens}")

    def usable(self, candidates: Sequence[Candidate]) -> list[Route]:
        """The routes whose agent is among ``candidates``."""
        present = {c.name for c in candidates}
        return [r for r in self.routes if r.to in present]

    def prompt(self, conversation: str, routes: Sequence[Route]) -> ModelRequest:
        listed = "\n".join([*(_line(r) for r in routes), _OTHER_LINE])
        return ModelRequest(
            messages=(
                Message.system(_SYSTEM),
                Message.user(f"Routes:\n{listed}\n\nConversation:\n{conversation}"),
            ),
            max_tokens=self.max_tokens,
            temperature=0.0,
            json_schema=self.schema(routes),
        )

    @staticmethod
    def schema(routes: Sequence[Route]) -> dict[str, Any]:
        """The answer's JSON schema: one route name, or ``other``."""
        enum = [r.name for r in routes] + [OTHER]
        return {"type": "object", "properties": {"route": {"enum": enum}}, "required": ["route"]}

    @staticmethod
    def parse(text: str, routes: Sequence[Route]) -> Route | str | None:
        """The route named, None for ``other``, or the text itself when it names nothing
        (a server that ignored the schema). Never raises."""
        start, end = text.find("{"), text.rfind("}")
        named: Any = None
        if 0 <= start < end:
            try:
                data = json.loads(text[start : end + 1])
            except (ValueError, RecursionError):
                data = None
            named = data.get("route") if isinstance(data, dict) else None
        wanted = (named if isinstance(named, str) else text).strip().strip("\"'`.").lower()
        if wanted == OTHER:
            return None
        by_name = {r.name.lower(): r for r in routes}
        return by_name.get(wanted, text.strip()[:120])

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        check_candidates(self.name, candidates)
        if complete is None:
            raise RoutingError("the preference router needs a model to read the routes with")
        routes = self.usable(candidates)
        if not routes:
            raise RoutingError("no route of the preference router goes to one of these agents")
        found = self.parse((await complete(self.prompt(query, routes))).text, routes)
        if isinstance(found, Route):
            return RouteDecision(
                router=self.name, chosen=(found.to,), scores={found.to: 1.0},
                reason=f"route {found.name!r}: {found.policy}",
            )  # fmt: skip
        return self._otherwise(found, candidates)

    def _otherwise(self, found: str | None, candidates: Sequence[Candidate]) -> RouteDecision:
        """``other`` (found is None) or an answer that named no route."""
        said = "no route fits" if found is None else f"no route in the answer {found!r}"
        if self.default is not None and self.default in {c.name for c in candidates}:
            return RouteDecision(
                router=self.name, chosen=(self.default,), fallback=found is not None,
                reason=f"{said}; the default agent {self.default!r}",
            )  # fmt: skip
        if found is None:
            return RouteDecision(router=self.name, chosen=(), reason=f"none fits: {said}")
        first = candidates[0].name
        return RouteDecision(
            router=self.name, chosen=(first,), fallback=True,
            reason=f"{said}; fell back to {first!r}",
        )  # fmt: skip
