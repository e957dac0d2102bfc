"""Multi-round routing (Router-R1, arXiv 2506.09033): a language model that thinks, sends
sub-questions to models it picks from a pool, reads their answers, and writes the final answer.

This module holds the router's pure parts. The pool is shown to the model as `Member`s, each by
price, latency and example performance, listed best value first under the ``cost_weight``; the
model answers each round with one action, which `parse_action` turns into a `RouteAction` (a
sub-question for one pool model) or an `AnswerAction`, or rejects with an `ActionFormatError`
whose ``problem`` says what is wrong. The rounds themselves are not run here: each one is a
unit of an agent's turn in the engine (`agentroute.engine.rounds`, `Agent.pool`), so they go
through the run's one caller (budget, retry, trace) and its one loop.

Two ways of writing actions, both read by the parser:

- JSON held to a schema (``constrained=True``, the default): ``{"think", "action": "route",
  "model", "query"}`` or ``{"think", "action": "answer", "answer"}``. The server enforces the
  schema (llama.cpp turns it into a grammar), so a small model names only pool models that are
  offered this round, and on the last round can only answer.
- Router-R1's tags (``constrained=False``): ``<think>...</think>``, then
  ``<search>model: sub-question</search>`` or ``<answer>...</answer>``, the replies coming back
  inside ``<information>``. A trained Router-R1 checkpoint served anywhere OpenAI-compatible
  writes these.

The cost weight (0 to 1) is how Router-R1's reward trades quality for price. A prompted model
has no reward, so the weight acts on what it reads: each member's value is ``(1 - w) *
score - w * price / dearest price`` (``score``: its share of example questions answered right,
0.5 when not given), members are listed by value and the values are shown; every decision's
trace event states the values and where the chosen model ranks by them.

As a `Router`, ``route`` is the one-round form: the model picks the one candidate that answers
the whole question, from the same description of the pool (``members``, by candidate name).
It is the baseline multi-round routing is measured against (``benchmarks/multi_round.py``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from agentroute.errors import ActionFormatError, ConfigError, RoutingError
from agentroute.routers.base import Candidate, check_candidates
from agentroute.types import Completer, Message, ModelRequest, RouteDecision

MAX_ROUNDS = 12
MAX_QUERY_CHARS = 1000
"""A sub-question longer than this is not a question: the round is a format error."""
THINK_CHARS = 200
"""What a round's thinking may take, held by the schema (and kept in its trace event)."""
FIELD_CHARS = 300
"""What a sub-question or an answer may take under the schema: with the thinking, a round
fits in 192 tokens, so ``max_tokens`` does not cut the JSON short."""
DEFAULT_SCORE = 0.5
CONSULT = (
    "Answer the question briefly and precisely. For a calculation, write the steps on one "
    "line, then 'Answer: <number>'."
)
_JSON_PROTOCOL = (
    "You answer the user's question by consulting the language models listed below. You "
    "work in rounds. In each round write one JSON action:\n"
    '- to ask one model one sub-question: {{"think": "<what you know and what you still '
    'need>", "action": "route", "model": "<model name>", "query": "<the sub-question, '
    'complete in itself>"}}\n'
    '- to give the final answer: {{"think": "<why>", "action": "answer", "answer": "<the '
    'final answer only>"}}\n'
    "The model's reply comes back in the next message. Split a question that takes several "
    "steps into sub-questions, one per round: a fact first, then a calculation with the "
    "numbers written out. You have at most {rounds} rounds; the last one must answer."
)
_TAG_PROTOCOL = (
    "You answer the user's question by consulting the language models listed below. You "
    "work in rounds. In each round, first think inside <think> and </think>. Then either ask "
    "one model one sub-question, written <search>model name: the sub-question</search>, or "
    "give the final answer inside <answer> and </answer>. The model's reply comes back "
    "inside <information> and </information>. Split a question that takes several steps "
    "into sub-questions, one per round: a fact first, then a calculation with the numbers "
    "written out. You have at most {rounds} rounds; the last one must answer."
)
_CHOOSE_JSON = (
    "You choose the one language model below that should answer the user's question. "
    'Answer in JSON: {"think": "<what the question needs>", "model": "<model name>"}.'
)
_CHOOSE_TAGS = (
    "You choose the one language model below that should answer the user's question. Think "
    "inside <think> and </think>, then write <search>model name: the question</search>."
)


@dataclass(frozen=True)
class Member:
    """One pool model as the router reads it: its ``name`` (what the router writes), its
    price in USD per million tokens, its typical ``latency_s`` per answer, its example
    ``performance`` in words or figures, and optionally ``score``, its share of example
    questions answered right (what the cost weight trades against price)."""

    name: str
    performance: str
    price_in: float = 0.0
    price_out: float = 0.0
    latency_s: float | None = None
    score: float | None = None

    def __post_init__(self) -> None:
        if not self.name.strip() or not self.performance.strip():
            raise ConfigError("a pool member needs a name and a description of its performance")
        prices = (self.price_in, self.price_out)
        if not all(math.isfinite(p) and p >= 0 for p in prices):
            raise ConfigError(f"pool member {self.name!r}: prices must be finite and >= 0")
        latency = self.latency_s
        if latency is not None and not (math.isfinite(latency) and latency >= 0):
            raise ConfigError(f"pool member {self.name!r}: latency_s must be finite and >= 0")
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ConfigError(f"pool member {self.name!r}: score must lie in [0, 1]")

    @property
    def price(self) -> float:
        """The blended price (three output tokens to one input token), as the graph weighs
        model variants."""
        return (self.price_in + 3 * self.price_out) / 4

    def line(self, value: float) -> str:
        head = f"- {self.name}: ${self.price:.3g} per million tokens"
        if self.latency_s is not None:
            head += f", about {self.latency_s:.2g} s per answer"
        said = self.performance.strip().rstrip(".")
        return f"{head}. {said[:1].upper()}{said[1:]}. Value {value:.2f}."


@dataclass(frozen=True)
class RouteAction:
    """Send ``query`` to the pool model ``model``."""

    model: str
    query: str
    think: str = ""


@dataclass(frozen=True)
class AnswerAction:
    """The final answer."""

    answer: str
    think: str = ""


Action = RouteAction | AnswerAction


def values(members: Sequence[Member], cost_weight: float) -> dict[str, float]:
    """Each member's value under ``cost_weight``: ``(1 - w) * score - w * price / dearest``."""
    dearest = max((m.price for m in members), default=0.0) or 1.0
    return {
        m.name: round(
            (1 - cost_weight) * (DEFAULT_SCORE if m.score is None else m.score)
            - cost_weight * m.price / dearest,
            4,
        )
        for m in members
    }


def ranked(members: Sequence[Member], cost_weight: float) -> list[Member]:
    """Members by value, best first (declared order among equals)."""
    v = values(members, cost_weight)
    return sorted(members, key=lambda m: -v[m.name])


def within(
    members: Sequence[Member],
    cost_weight: float,
    margin: float | None,
    unusable: Collection[str] = frozenset(),
) -> list[str]:
    """The names of the members not ``unusable`` whose value is within ``margin`` of the best
    of those, best value first (all of them when ``margin`` is None). Values are those of the
    whole pool, as the router reads them."""
    worth = values(members, cost_weight)
    order = [m.name for m in ranked(members, cost_weight) if m.name not in unusable]
    if margin is None or not order:
        return order
    return [name for name in order if worth[name] >= worth[order[0]] - margin]


def effect(chosen: str | None, worth: dict[str, float], cost_weight: float) -> str:
    """The cost weight's effect on a choice, in words: where ``chosen`` ranks by value."""
    order = sorted(worth, key=lambda n: -worth[n])
    listed = ", ".join(f"{n} {worth[n]:.2f}" for n in order)
    if chosen is None or chosen not in worth:
        return f"cost weight {cost_weight:g}: values {listed}"
    rank = order.index(chosen) + 1
    return f"cost weight {cost_weight:g}: {chosen} ranks {rank} of {len(order)} by value ({listed})"


def resolve(name: str, pool: Sequence[str]) -> str | None:
    """A pool name from what a model wrote: the name itself (any case), or the part after
    the provider (``small`` for ``local:small``) when only one member ends with it."""
    said = name.strip().strip("\"'`*[]").lower()
    if not said:
        return None
    exact = [p for p in pool if p.lower() == said]
    if exact:
        return exact[0]
    tails = [p for p in pool if re.split(r"[:/]", p.lower())[-1] == said]
    return tails[0] if len(tails) == 1 else None


def _json_object(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


_TAG = re.compile(r"<(search|route|answer)>(.*?)(?:</\1>|$)", re.S | re.I)
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.S | re.I)


def _tagged(text: str) -> tuple[str, str, str] | None:
    """(tag, body, think) of the first action tag, or None."""
    found = _TAG.search(text)
    if found is None:
        return None
    think = _THINK.search(text[: found.start()])
    return found.group(1).lower(), found.group(2).strip(), think.group(1).strip() if think else ""


def _split_route(body: str, pool: Sequence[str]) -> tuple[str, str]:
    """(model as written, sub-question) from ``model: sub-question`` (a pool name may itself
    hold a colon, as ``local:small`` does)."""
    low = body.lower()
    for name in sorted(pool, key=len, reverse=True):
        if low.startswith(name.lower()):
            rest = body[len(name) :].lstrip()
            if rest.startswith(":"):
                return name, rest[1:].strip()
    head, _, tail = body.partition(":")
    return head.strip(), tail.strip()


def parse_action(
    text: str, offered: Sequence[str], *, pool: Sequence[str] = (), final: bool = False
) -> Action:
    """The action a round's text commits to: JSON (``"action": "route"`` with ``"model"`` and
    ``"query"``, or ``"answer"``) or Router-R1's tags. ``offered`` are the models it may route
    to now, ``pool`` all of them (a pool model not offered is ``unavailable_model``, any other
    name ``unknown_model``); on the ``final`` round only an answer is allowed. Raises
    `ActionFormatError`; never anything else."""
    data = _json_object(text)
    if data is not None and (data.get("action") in ("route", "answer") or "answer" in data):
        think = _text(data.get("think"))
        if data.get("action") == "route":
            model, query = str(data.get("model", "")), _text(data.get("query"))
            action: Action = RouteAction(model, query, think)
        else:
            action = AnswerAction(_text(data.get("answer")), think)
    else:
        found = _tagged(text)
        if found is None:
            raise ActionFormatError(
                "no action: neither a JSON action nor an <answer> or <search> tag",
                problem="no_action", text=text.strip()[:120],
            )  # fmt: skip
        tag, body, think = found
        if tag == "answer":
            action = AnswerAction(body, think)
        else:
            model, query = _split_route(body, [*pool, *offered])
            action = RouteAction(model, query, think)
    return _checked(action, offered, pool, final, text)


def _checked(
    action: Action, offered: Sequence[str], pool: Sequence[str], final: bool, text: str
) -> Action:
    said = text.strip()[:120]
    if isinstance(action, AnswerAction):
        if not action.answer:
            raise ActionFormatError("the answer is empty", problem="empty_answer", text=said)
        return action
    if final:
        raise ActionFormatError(
            "this was the last round: it must answer, not route", problem="must_answer", text=said
        )
    name = resolve(action.model, offered)
    if name is None:
        known = resolve(action.model, pool) is not None
        raise ActionFormatError(
            f"model {action.model.strip()[:60]!r} is "
            + ("not available now" if known else "not in the pool")
            + f"; the models are {', '.join(offered) or 'none'}",
            problem="unavailable_model" if known else "unknown_model",
            text=said,
        )
    if not action.query:
        raise ActionFormatError("the sub-question is empty", problem="empty_query", text=said)
    if len(action.query) > MAX_QUERY_CHARS:
        raise ActionFormatError(
            f"the sub-question runs to {len(action.query)} characters (at most "
            f"{MAX_QUERY_CHARS})",
            problem="too_long", text=said,
        )  # fmt: skip
    return RouteAction(name, action.query, action.think)


def parse_choice(text: str, names: Sequence[str]) -> tuple[str, str]:
    """(the model named, the thinking) from a one-round choice: JSON with ``"model"``, or a
    ``<search>model: ...</search>`` tag. Raises `ActionFormatError`."""
    data = _json_object(text)
    if data is not None and "model" in data:
        written, think = str(data.get("model", "")), _text(data.get("think"))
    else:
        found = _tagged(text)
        if found is None or found[0] == "answer":
            raise ActionFormatError(
                "no model named: neither a JSON choice nor a <search> tag",
                problem="must_route" if found else "no_action", text=text.strip()[:120],
            )  # fmt: skip
        written, think = _split_route(found[1], names)[0], found[2]
    name = resolve(written, names)
    if name is None:
        raise ActionFormatError(
            f"model {written.strip()[:60]!r} is not among {', '.join(names)}",
            problem="unknown_model", text=text.strip()[:120],
        )  # fmt: skip
    return name, think


@dataclass(frozen=True)
class MultiRoundRouter:
    """How a multi-round agent routes: the ``cost_weight`` (0: quality only, 1: price only),
    at most ``max_rounds`` rounds (each a call of the agent's model; the last must answer),
    JSON actions held to a schema (``constrained``) or Router-R1's tags, and what a pool model
    is told and may write (``consult_instructions``, ``consult_tokens``).

    ``value_margin`` holds the cost weight in code rather than in the prompt: a round is
    offered only the pool models whose value is within the margin of the best value among
    those usable now (not failed in the task, not down), so a small prompted router cannot
    spend its sub-questions on a model the weight ranks far lower, and when the best model
    goes down the next ones come within reach. None (the default) offers every usable model,
    as a trained Router-R1 checkpoint expects. The one-round form chooses among the same.

    For the one-round form (``route``, a `Router` over agents): ``members`` describe the
    candidates by name (a candidate without one is described by its description and cost),
    ``default`` is taken when the answer names no candidate (else `ActionFormatError`, a
    `RoutingError`), and ``max_tokens`` bounds the choice."""

    cost_weight: float = 0.0
    max_rounds: int = 4
    constrained: bool = True
    consult_tokens: int = 160
    consult_instructions: str = CONSULT
    value_margin: float | None = None
    members: tuple[Member, ...] = ()
    default: str | None = None
    max_tokens: int = 128
    name: str = "multi-round"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cost_weight) and 0.0 <= self.cost_weight <= 1.0):
            raise ConfigError(f"cost_weight must lie in [0, 1], not {self.cost_weight}")
        if not 1 <= self.max_rounds <= MAX_ROUNDS:
            raise ConfigError(f"max_rounds must lie in [1, {MAX_ROUNDS}], not {self.max_rounds}")
        if self.value_margin is not None and not (
            math.isfinite(self.value_margin) and self.value_margin >= 0.0
        ):
            raise ConfigError(f"value_margin must be None or >= 0, not {self.value_margin}")
        if self.consult_tokens < 8 or self.max_tokens < 8:
            raise ConfigError("consult_tokens and max_tokens must be at least 8")
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise ConfigError(f"pool member names repeat: {names}")

    # -- the rounds ---------------------------------------------------------------------------
    def listing(self, members: Sequence[Member]) -> str:
        """The pool as the router reads it: best value first, with the values."""
        worth = values(members, self.cost_weight)
        lines = [m.line(worth[m.name]) for m in ranked(members, self.cost_weight)]
        head = (
            f"Models (cost weight {self.cost_weight:g}: 0 weighs only quality, 1 only price; "
            "listed best value first):"
        )
        return "\n".join([head, *lines])

    def system(self, members: Sequence[Member], instructions: str = "") -> str:
        """The router's system message: how to act (``instructions`` replace the protocol's
        words, for a checkpoint trained on its own), then the pool."""
        protocol = _JSON_PROTOCOL if self.constrained else _TAG_PROTOCOL
        said = instructions.strip() or protocol.format(rounds=self.max_rounds)
        return f"{said}\n\n{self.listing(members)}"

    def schema(self, offered: Sequence[str], final: bool) -> dict[str, Any]:
        """A round's JSON schema: a route to one of the ``offered`` models, or an answer (the
        only choice on the ``final`` round, or when nothing is offered)."""
        think = {"type": "string", "maxLength": THINK_CHARS}
        answer = {
            "type": "object",
            "properties": {"think": think, "action": {"const": "answer"},
                           "answer": {"type": "string", "minLength": 1,
                                          "maxLength": FIELD_CHARS}},
            "required": ["think", "action", "answer"],
        }  # fmt: skip
        if final or not offered:
            return answer
        route = {
            "type": "object",
            "properties": {"think": think, "action": {"const": "route"},
                           "model": {"enum": list(offered)},
                           "query": {"type": "string", "minLength": 1,
                                     "maxLength": FIELD_CHARS}},
            "required": ["think", "action", "model", "query"],
        }  # fmt: skip
        return {"anyOf": [route, answer]}

    def parse(self, text: str, offered: Sequence[str], pool: Sequence[str], final: bool) -> Action:
        return parse_action(text, offered, pool=pool, final=final)

    def information(self, model: str, reply: str, rounds_done: int) -> str:
        """What the router reads after a pool model answered."""
        body = reply.strip()[:1200] or "(an empty answer)"
        return f"<information>\n{model}: {body}\n</information>\n{self.next_round(rounds_done)}"

    def refused(self, model: str, why: str, rounds_done: int) -> str:
        """What the router reads when a sub-question got no answer (the model failed, or the
        budget cannot pay for it)."""
        return f"<information>\n{model} gave no answer: {why}\n</information>\n" + self.next_round(
            rounds_done
        )

    def correction(self, error: str, rounds_done: int) -> str:
        """What the router reads after a round it wrote could not be followed."""
        return f"That action could not be followed: {error}. {self.next_round(rounds_done)}"

    def next_round(self, rounds_done: int) -> str:
        n = rounds_done + 1
        if n >= self.max_rounds:
            return f"Round {n} of {self.max_rounds}, the last: give the final answer now."
        return f"Round {n} of {self.max_rounds}."

    # -- the one-round form: a Router ---------------------------------------------------------
    def describe(self, candidates: Sequence[Candidate]) -> list[Member]:
        """The candidates as pool members: their declared member, else their description."""
        mine = {m.name: m for m in self.members}
        return [
            mine.get(c.name) or Member(c.name, c.description, price_in=c.cost, price_out=c.cost)
            for c in candidates
        ]

    def choice_prompt(
        self, query: str, members: Sequence[Member], offered: Sequence[str]
    ) -> ModelRequest:
        """The one-round choice: the pool listed in full, the answer held to ``offered``."""
        schema = {
            "type": "object",
            "properties": {"think": {"type": "string", "maxLength": THINK_CHARS},
                           "model": {"enum": list(offered)}},
            "required": ["think", "model"],
        }  # fmt: skip
        system = _CHOOSE_JSON if self.constrained else _CHOOSE_TAGS
        return ModelRequest(
            messages=(
                Message.system(f"{system}\n\n{self.listing(members)}"),
                Message.user(f"Question: {query}"),
            ),
            max_tokens=self.max_tokens,
            temperature=0.0,
            json_schema=schema if self.constrained else None,
        )

    async def route(
        self, query: str, candidates: Sequence[Candidate], complete: Completer | None
    ) -> RouteDecision:
        check_candidates(self.name, candidates)
        if complete is None:
            raise RoutingError("the multi-round router needs a model to choose with")
        members = self.describe(candidates)
        names = [m.name for m in members]
        worth = values(members, self.cost_weight)
        offered = within(members, self.cost_weight, self.value_margin)  # the listing's order
        completion = await complete(self.choice_prompt(query, members, offered))
        try:
            chosen, think = parse_choice(completion.text, offered)
        except ActionFormatError as exc:
            if self.default not in names:
                raise
            return RouteDecision(
                router=self.name, chosen=(str(self.default),), scores=worth, fallback=True,
                reason=f"{exc}; fell back to the default {self.default!r}",
            )  # fmt: skip
        reason = f"{think[:THINK_CHARS]} ({effect(chosen, worth, self.cost_weight)})".strip()
        return RouteDecision(router=self.name, chosen=(chosen,), scores=worth, reason=reason)
