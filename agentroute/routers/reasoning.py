"""Reasoning router: the model reads agent descriptions, writes a reason, then names agents.

Agents are shown as numbered blocks with name and description, so a new agent joins by being
declared, with no retraining. Output parsing is strict: only ids in the catalog count; when
nothing valid comes back the declared default is used and the decision says so
(``fallback=True``), never a silent guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentroute.errors import ConfigError, RoutingError
from agentroute.routers.base import Candidate, check_candidates
from agentroute.types import Completer, Message, ModelRequest, RouteDecision

_SYSTEM = (
    "You are a router. You read a user request and choose which specialist agents should "
    "handle it. Choose as few agents as the request needs, at most {k}. Answer in exactly "
    "two lines, first the reason, then the agents:\n"
    "Reason: <one short sentence about what the user needs>\n"
    "Agents: <agent names separated by commas, or none>"
)


@dataclass(frozen=True)
class ReasoningRouter:
    """``allow_none``: an explicit "none" from the model becomes an empty choice (no agent
    fits), which the runtime turns into an escalation; without it, "none" takes the default."""

    max_agents: int = 1
    default: str | None = None
    max_tokens: int = 64
    allow_none: bool = False
    name: str = "reasoning"

    def __post_init__(self) -> None:
        if self.max_agents < 1:
            raise ConfigError(f"max_agents must be at least 1, not {self.max_agents}")
        if self.max_tokens < 8:
            raise ConfigError(
                f"max_tokens must be at least 8 to name an agent, not {self.max_tokens}"
            )

    def prompt(self, query: str, candidates: Sequence[Candidate]) -> ModelRequest:
        catalog = "\n".join(
            f"[{i}] {c.name}: {c.description}" for i, c in enumerate(candidates, start=1)
        )
        return ModelRequest(
            messages=(
                Message.system(_SYSTEM.format(k=self.max_agents)),
                Message.user(f"Agents:\n{catalog}\n\nRequest: {query}"),
            ),
            max_tokens=self.max_tokens,
            temperature=0.0,
        )

    def parse(
        self, text: str, candidates: Sequence[Candidate]
    ) -> tuple[tuple[str, ...], str, list[str], bool]:
        """Return (chosen names, reason, rejected tokens, said none). Never raises."""
        reason_m = re.search(r"reason\s*:\s*(.+)", text, re.I)
        reason = reason_m.group(1).strip()[:300] if reason_m else ""
        agents_m = re.search(r"agents?\s*:\s*(.+)", text, re.I)
        if not agents_m:
            return (), reason, [text.strip()[:80]], False
        by_name = {c.name.lower(): c.name for c in candidates}
        chosen: list[str] = []
        rejected: list[str] = []
        said_none = False
        for token in re.split(r"[,;/]| and ", agents_m.group(1)):
            tok = token.strip().strip("`*.\"' ").lower()
            if tok in _NONE:
                said_none = True
                continue
            if not tok:
                continue
            name = _resolve(tok, candidates, by_name)
            if name is None:
                rejected.append(tok)
            elif name not in chosen:
                chosen.append(name)
        return tuple(chosen[: self.max_agents]), reason, rejected[:8], said_none

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        check_candidates(self.name, candidates)
        if complete is None:
            raise RoutingError("the reasoning router needs a model to reason with")
        completion = await complete(self.prompt(query, candidates))
        chosen, reason, rejected, said_none = self.parse(completion.text, candidates)
        if not chosen and said_none and self.allow_none and not rejected:
            return RouteDecision(
                router=self.name, chosen=(), reason=f"none fits: {reason or 'the model said none'}"
            )
        if chosen:
            note = f" (ignored ids outside the catalog: {rejected})" if rejected else ""
            return RouteDecision(
                router=self.name,
                chosen=chosen,
                reason=reason + note,
                scores={c: 1.0 for c in chosen},
            )
        names = [c.name for c in candidates]
        fallback = self.default if self.default in names else names[0]
        return RouteDecision(
            router=self.name,
            chosen=(fallback,),
            reason=f"no valid agent in the router's output {completion.text.strip()[:120]!r}; "
            f"fell back to default {fallback!r}",
            fallback=True,
        )


_NONE = {"none", "none fits", "oos", "no agent", "nobody"}
_ID_AND_NAME = re.compile(r"^\[?(\d+)\]?\s*[:.)-]?\s*([a-z][\w-]*)?$|^([a-z][\w-]*)$")


def _resolve(tok: str, candidates: Sequence[Candidate], by_name: dict[str, str]) -> str | None:
    """A catalog name from ``billing``, ``2`` or ``[2] billing``; None when it names nothing in
    the catalog. When an id and a valid name disagree the name wins: small models miscount
    the blocks far more often than they misspell a name (measured on the intent set)."""
    m = _ID_AND_NAME.match(tok)
    if not m:
        return None
    number, name_part, bare = m.groups()
    name = by_name.get(name_part or bare or "")
    if number is None:
        return name
    index = int(number) - 1
    by_id = candidates[index].name if 0 <= index < len(candidates) else None
    return by_id if name_part is None else name
