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

Small models tell neighbouring policies apart poorly and rarely say ``other`` (measured in
``benchmarks/preference_routing.py``). ``shortlist``, a `SemanticRouter`, scores the routes
(policy and examples) against the conversation and keeps the ``shortlist_size`` closest, so
the model chooses among few; with ``gate`` the shortlist also decides whether any route fits
(its ``threshold`` or ``off_topic`` examples). The routes are ranked by the whole
conversation; whether any fits is judged on the new message and on the whole conversation.
When both say none does, the answer is ``other`` with no model call; when both say one does,
the model's ``other`` gives way to the closest route; when they disagree (a follow-up such as
"where is it?", or an off-topic question late in a conversation about parcels) the model
decides, ``other`` included. With ``list_all`` the prompt lists every route and only the
answer is held to the shortlist: the prompt's prefix is the same for every request, so a
server that caches prefixes (llama.cpp) answers 2.6 times faster, at some accuracy (measured).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentroute.errors import ConfigError, RoutingError
from agentroute.routers.base import Candidate, check_candidates
from agentroute.routers.semantic import SemanticRouter
from agentroute.types import Completer, Message, ModelRequest, RouteDecision, new_message

OTHER = "other"
Verdict = Literal["fits", "none", "unsure"]
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
class Shortlisted:
    """What the shortlist made of a conversation: the ``routes`` the model reads, every
    route's ``scores``, and the ``verdict`` on whether any route fits: ``"fits"`` or
    ``"none"`` when the new message and the whole conversation agree, ``"unsure"`` when they
    do not (a follow-up such as "where is it?" fits only with what came before; an off-topic
    question late in a conversation about parcels fits only with it), with ``why`` not."""

    routes: list[Route]
    scores: dict[str, float]
    verdict: Verdict
    why: str

    @property
    def closest(self) -> Route:
        return max(self.routes, key=lambda r: self.scores.get(r.name, 0.0))


@dataclass(frozen=True)
class PreferenceRouter:
    routes: tuple[Route, ...]
    default: str | None = None
    max_tokens: int = 32
    shortlist: SemanticRouter | None = None
    shortlist_size: int = 3
    gate: bool = False
    list_all: bool = False
    name: str = "preference"

    def __post_init__(self) -> None:
        names = [r.name for r in self.routes]
        if not names:
            raise ConfigError("a preference router needs at least one route")
        if len(set(names)) != len(names):
            raise ConfigError(f"route names must be unique: {names}")
        if self.max_tokens < 8:
            raise ConfigError(f"max_tokens must be at least 8, not {self.max_tokens}")
        if self.shortlist_size < 1:
            raise ConfigError(f"shortlist_size must be at least 1, not {self.shortlist_size}")
        if self.gate and self.shortlist is None:
            raise ConfigError("gate needs a shortlist (a SemanticRouter)")

    def usable(self, candidates: Sequence[Candidate]) -> list[Route]:
        """The routes whose agent is among ``candidates``."""
        present = {c.name for c in candidates}
        return [r for r in self.routes if r.to in present]

    def narrow(self, conversation: str, routes: Sequence[Route]) -> Shortlisted:
        """The routes the model reads (the shortlist's closest, in the routes' order) and the
        shortlist's verdict on whether any fits (``"unsure"`` without a shortlist; on the whole
        conversation alone without ``gate``, which is all that reads the new message's)."""
        if self.shortlist is None:
            return Shortlisted(list(routes), {}, "unsure", "")
        as_candidates = [Candidate(r.name, r.policy, r.examples) for r in routes]
        whole = self.shortlist.assess(conversation, as_candidates)
        kept = sorted(whole.scores, key=lambda n: -whole.scores[n])[: self.shortlist_size]
        asked = new_message(conversation)
        alone = asked == conversation or not self.gate
        now = whole if alone else self.shortlist.assess(asked, as_candidates)
        verdict: Verdict = "unsure" if now.fits != whole.fits else "fits" if now.fits else "none"
        kept_routes = [r for r in routes if r.name in kept]
        return Shortlisted(kept_routes, whole.scores, verdict, now.why or whole.why)

    def prompt(
        self, conversation: str, routes: Sequence[Route], allowed: Sequence[Route] | None = None
    ) -> ModelRequest:
        """The routes listed in full, the answer held to ``allowed`` (all when None) or other."""
        listed = "\n".join([*(_line(r) for r in routes), _OTHER_LINE])
        return ModelRequest(
            messages=(
                Message.system(_SYSTEM),
                Message.user(f"Routes:\n{listed}\n\nConversation:\n{conversation}"),
            ),
            max_tokens=self.max_tokens,
            temperature=0.0,
            json_schema=self.schema(routes if allowed is None else allowed),
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
        short = self.narrow(query, routes)
        if self.gate and short.verdict == "none":
            return self._otherwise(None, candidates, f"no route fits: {short.why}")
        asked = self.prompt(query, routes if self.list_all else short.routes, short.routes)
        found = self.parse((await complete(asked)).text, short.routes)
        why = ""
        if found is None and self.gate and short.verdict == "fits":
            found, why = short.closest, " (the model said other; the closest route by meaning)"
        if isinstance(found, Route):
            return RouteDecision(
                router=self.name, chosen=(found.to,), scores={found.to: 1.0},
                reason=f"route {found.name!r}: {found.policy}{why}",
            )  # fmt: skip
        return self._otherwise(found, candidates)

    def _otherwise(
        self, found: str | None, candidates: Sequence[Candidate], said: str = ""
    ) -> RouteDecision:
        """``other`` (found is None) or an answer that named no route."""
        said = said or ("no route fits" if found is None else f"no route in the answer {found!r}")
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
