"""Reasoning router: the model reads agent descriptions, writes a reason, then names agents.

Agents are shown as numbered blocks with name and description, so a new agent joins by being
declared, with no retraining. Output parsing is strict: only ids in the catalog count; when
nothing valid comes back the declared default is used and the decision says so
(``fallback=True``), never a silent guess.

Three options make small models route well (measured in ``benchmarks/intent_routing.py``):
``shortlist``, a router with ``scores`` (the semantic one), keeps the ``shortlist_size`` most
similar agents before the model reads anything, so it chooses among few; ``examples`` shows
that many of each agent's example requests (few-shot, from `Candidate.examples`); and
``constrained`` asks for JSON whose agent names are an enum of the catalogue and "none", which
the server enforces (a JSON schema; llama.cpp turns it into a grammar), so the model cannot
write a name that does not exist. With ``keep_top`` the shortlist's best agent joins the
model's choice when they differ (within ``max_agents``; the refiner merges the answers), and
"none" stands only when the model says it and the shortlist finds that nothing fits (its
``threshold``, or its ``off_topic`` examples). With ``gate`` (and ``allow_none``) the
shortlist's "nothing fits" is the decision: no model call is made for such a request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agentroute.errors import ConfigError, RoutingError
from agentroute.routers.base import Candidate, check_candidates
from agentroute.routers.semantic import SemanticRouter
from agentroute.types import Completer, Message, ModelRequest, RouteDecision

_SYSTEM = (
    "You are a router. You read a user request and choose which specialist agents should "
    "handle it. Choose as few agents as the request needs, at most {k}. Answer in exactly "
    "two lines, first the reason, then the agents:\n"
    "Reason: <one short sentence about what the user needs>\n"
    "Agents: <agent names separated by commas, or none>"
)
_SYSTEM_JSON = (
    "You are a router. You read a user request and choose which specialist agents should "
    "handle it: usually one, at most {k}, and none when no agent's area fits the request. "
    'Answer in JSON: {{"reason": "<one short sentence about what the user needs>", '
    '"agents": ["<agent name>", ...]}}, or "agents": ["none"].'
)


class Scorer(Protocol):
    """What a shortlist needs: a score per candidate for a query (the semantic router)."""

    def scores(self, query: str, candidates: Sequence[Candidate]) -> dict[str, float]: ...


@dataclass(frozen=True)
class ReasoningRouter:
    """``allow_none``: an explicit "none" from the model becomes an empty choice (no agent
    fits), which the runtime turns into an escalation; without it, "none" takes the default."""

    max_agents: int = 1
    default: str | None = None
    max_tokens: int = 64
    allow_none: bool = False
    shortlist: Scorer | None = None
    shortlist_size: int = 4
    keep_top: bool = False
    examples: int = 0
    constrained: bool = False
    gate: bool = False
    name: str = "reasoning"

    def __post_init__(self) -> None:
        if self.max_agents < 1:
            raise ConfigError(f"max_agents must be at least 1, not {self.max_agents}")
        if self.max_tokens < 8:
            raise ConfigError(
                f"max_tokens must be at least 8 to name an agent, not {self.max_tokens}"
            )
        if self.shortlist_size < 1 or self.examples < 0:
            raise ConfigError("shortlist_size must be at least 1 and examples at least 0")
        if self.gate and not (self.allow_none and isinstance(self.shortlist, SemanticRouter)):
            raise ConfigError("gate needs allow_none=True and a SemanticRouter shortlist")

    def prompt(self, query: str, candidates: Sequence[Candidate]) -> ModelRequest:
        catalog = "\n".join(_block(i, c, self.examples) for i, c in enumerate(candidates, start=1))
        system = _SYSTEM_JSON if self.constrained else _SYSTEM
        return ModelRequest(
            messages=(
                Message.system(system.format(k=self.max_agents)),
                Message.user(f"Agents:\n{catalog}\n\nRequest: {query}"),
            ),
            max_tokens=self.max_tokens,
            temperature=0.0,
            json_schema=self.schema(candidates) if self.constrained else None,
        )

    def schema(self, candidates: Sequence[Candidate]) -> dict[str, Any]:
        """The answer's JSON schema: a reason, then agent names from the catalogue or "none"."""
        names = [c.name for c in candidates] + ["none"]
        agents = {"type": "array", "items": {"enum": names}, "minItems": 1,
                  "maxItems": self.max_agents}  # fmt: skip
        return {
            "type": "object",
            "properties": {"reason": {"type": "string"}, "agents": agents},
            "required": ["reason", "agents"],
        }

    def pool(
        self, query: str, candidates: Sequence[Candidate]
    ) -> tuple[list[Candidate], tuple[str, bool] | None, str]:
        """The candidates the model reads: all, or the shortlist's best ``shortlist_size`` (in
        the catalogue's order); for ``keep_top``, the best one and whether the shortlist finds
        that anything fits; and why nothing fits ("" when something does)."""
        if self.shortlist is None:
            return list(candidates), None, ""
        if isinstance(self.shortlist, SemanticRouter):
            assessed = self.shortlist.assess(query, candidates)
            scores, fits, why = assessed.scores, assessed.fits, assessed.why
        else:
            scores, fits, why = self.shortlist.scores(query, candidates), True, ""
        ranked = sorted(scores, key=lambda n: -scores[n])
        best = set(ranked[: self.shortlist_size])
        top = (ranked[0], fits) if self.keep_top else None
        return [c for c in candidates if c.name in best], top, why

    def _with_top(
        self, chosen: tuple[str, ...], reason: str, said_none: bool, top: tuple[str, bool]
    ) -> tuple[tuple[str, ...], str, bool]:
        """The model's choice with the shortlist's best agent beside it (`keep_top`)."""
        name, fits = top
        if not chosen and said_none and not fits:
            return chosen, reason, True  # both say nothing fits
        if name in chosen:
            return chosen, reason, said_none
        joined = (*chosen, name)[: self.max_agents] if chosen else (name,)
        return joined, f"{reason} (+ {name}: the closest by meaning)".strip(), False

    def parse(
        self, text: str, candidates: Sequence[Candidate]
    ) -> tuple[tuple[str, ...], str, list[str], bool]:
        """Return (chosen names, reason, rejected tokens, said none). Never raises."""
        found = _json_answer(text)
        if found is not None:
            return self._from_names(found[1], found[0], candidates)
        reason_m = re.search(r"reason\s*:\s*(.+)", text, re.I)
        reason = reason_m.group(1).strip()[:300] if reason_m else ""
        agents_m = re.search(r"agents?\s*:\s*(.+)", text, re.I)
        if not agents_m:
            return (), reason, [text.strip()[:80]], False
        return self._from_names(re.split(r"[,;/]| and ", agents_m.group(1)), reason, candidates)

    def _from_names(
        self, tokens: Sequence[str], reason: str, candidates: Sequence[Candidate]
    ) -> tuple[tuple[str, ...], str, list[str], bool]:
        by_name = {c.name.lower(): c.name for c in candidates}
        chosen: list[str] = []
        rejected: list[str] = []
        said_none = False
        for token in tokens:
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
        pool, top, unfit = self.pool(query, candidates)
        if self.gate and unfit:
            return RouteDecision(router=self.name, chosen=(), reason=f"none fits: {unfit}")
        completion = await complete(self.prompt(query, pool))
        chosen, reason, rejected, said_none = self.parse(completion.text, pool)
        if top is not None:
            chosen, reason, said_none = self._with_top(chosen, reason, said_none, top)
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


def _block(i: int, c: Candidate, examples: int) -> str:
    shown = c.examples[:examples]
    said = "; ".join(f'"{e}"' for e in shown)
    return f"[{i}] {c.name}: {c.description}" + (f" (for example {said})" if shown else "")


def _json_answer(text: str) -> tuple[str, list[str]] | None:
    """(reason, names) from a JSON answer, or None when the text is not one."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except (ValueError, RecursionError):
        return None
    agents = data.get("agents") if isinstance(data, dict) else None
    if not isinstance(agents, list) or not all(isinstance(a, str) for a in agents):
        return None
    reason = data.get("reason")
    return (reason.strip()[:300] if isinstance(reason, str) else ""), agents


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
