"""Frozen value types shared by every package.

These are the nouns of the SDK: what goes into a model call, what comes out, what a router
decided. They are immutable so a value recorded in a trace is the value that was used.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["system", "user", "assistant", "tool"]
Tier = Literal["tiny", "small", "large"]
TIER_ORDER: dict[str, int] = {"tiny": 0, "small": 1, "large": 2}


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolCall(Frozen):
    """A model's request to run one tool; ``arguments`` is the raw JSON text the model wrote."""

    id: str
    name: str
    arguments: str


class Message(Frozen):
    role: Role
    content: str = ""
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(role="system", content=text)

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", content=text)

    @classmethod
    def assistant(cls, text: str, tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        return cls(role="assistant", content=text, tool_calls=tool_calls)

    @classmethod
    def tool(cls, call_id: str, name: str, text: str) -> Message:
        return cls(role="tool", content=text, name=name, tool_call_id=call_id)


class ToolSpec(Frozen):
    """What a model is told about a tool: name, description and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


class ModelRequest(Frozen):
    """One chat request, independent of the provider that will serve it."""

    messages: tuple[Message, ...]
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = Field(default=0, ge=0, le=20)
    tools: tuple[ToolSpec, ...] = ()
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    """The answer must be JSON of this schema (each endpoint asks for it its own way)."""
    seed: int | None = None
    prefill: str = ""
    """An answer already begun (a stream that broke mid-answer): the model continues it.
    Each endpoint says it its own way (a trailing assistant message for Anthropic)."""


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of an answer as it arrives from a stream; ``tokens``: how many output tokens
    the endpoint counts it as (the budget is held against them while the stream runs)."""

    text: str
    tokens: int = 1


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of an answer in a run's stream: which agent writes it, on which model, for
    what (``answer``, or ``refine`` for the merged reply), at which step."""

    text: str
    agent: str | None
    model: str
    purpose: str
    step: int


class Usage(Frozen):
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class TopLogprob(Frozen):
    token: str
    logprob: float


class TokenLogprob(Frozen):
    """Log-probability of one generated token and, when asked for, its strongest rivals."""

    token: str
    logprob: float
    top: tuple[TopLogprob, ...] = ()

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)

    def entropy(self) -> float:
        """Shannon entropy (nats) over the returned alternatives, renormalised.

        Only the top-k alternatives are known, so this is a lower bound on the true entropy.
        """
        alts = self.top or (TopLogprob(token=self.token, logprob=self.logprob),)
        probs = [math.exp(a.logprob) for a in alts]
        total = sum(probs)
        if total <= 0:
            return 0.0
        return -sum((p / total) * math.log(p / total) for p in probs if p > 0)


class Completion(Frozen):
    """What came back from one successful model call."""

    text: str
    model: str
    provider: str
    usage: Usage
    finish_reason: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    logprobs: tuple[TokenLogprob, ...] | None = None
    usage_reported: bool = True

    def mean_token_prob(self) -> float | None:
        """Geometric-mean probability of the generated tokens: a cheap confidence signal."""
        if not self.logprobs:
            return None
        return math.exp(sum(t.logprob for t in self.logprobs) / len(self.logprobs))


class Price(Frozen):
    """USD per million tokens."""

    input_per_mtok: float = Field(default=0.0, ge=0.0)
    output_per_mtok: float = Field(default=0.0, ge=0.0)

    @field_validator("input_per_mtok", "output_per_mtok")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("price must be finite")
        return v

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok
        ) / 1_000_000

    def worst_case(self, input_tokens: int, max_output_tokens: int) -> float:
        # the arithmetic of `cost`, without building a Usage: this runs before every call
        return (
            input_tokens * self.input_per_mtok + max_output_tokens * self.output_per_mtok
        ) / 1_000_000


CONVERSATION = "Conversation so far:\n"
NEW_MESSAGE = "\n\nNew message: "


def routing_text(said: Sequence[str], task: str) -> str:
    """What routers read: ``task`` alone, or after the conversation's lines (``role: text``)
    when there is one."""
    if not said:
        return task
    return CONVERSATION + "\n".join(said) + NEW_MESSAGE + task


def new_message(text: str) -> str:
    """The message a routing text ends with (the whole text when it has no conversation)."""
    head, sep, tail = text.rpartition(NEW_MESSAGE)
    return tail if sep and head.startswith(CONVERSATION) else text


class RouteDecision(Frozen):
    """A router's choice: one or more candidates, their scores, and a short human reason.

    ``chosen`` is empty when the router says no candidate fits. ``answer`` holds an answer the
    router already paid for while deciding (a cascade's accepted small answer, the agreed
    answer of sigma probes), so the runtime need not ask again.
    """

    router: str
    chosen: tuple[str, ...]
    scores: dict[str, float] = Field(default_factory=dict)
    reason: str = ""
    fallback: bool = False
    answer: str | None = None

    @field_validator("chosen")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"chosen names repeat: {v}")
        return v

    @field_validator("scores")
    @classmethod
    def _finite_scores(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, x in v.items() if not math.isfinite(x)]
        if bad:
            raise ValueError(f"scores must be finite; not for {bad}")
        return v


class Logistic(Frozen):
    """A fitted logistic model as a plain value: standardised features, weights and a bias.

    Scoring needs no numeric library, so a policy or router trained offline (see
    ``agentroute.budget.learned``) loads from JSON and runs anywhere. Missing features count as
    their training mean.
    """

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    means: tuple[float, ...]
    scales: tuple[float, ...]

    @field_validator("weights", "means", "scales")
    @classmethod
    def _finite(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not all(math.isfinite(x) for x in v):
            raise ValueError("logistic parameters must be finite")
        return v

    @model_validator(mode="after")
    def _shapes(self) -> Logistic:
        n = len(self.features)
        if not (len(self.weights) == len(self.means) == len(self.scales) == n):
            raise ValueError("features, weights, means and scales must have the same length")
        if any(s <= 0 for s in self.scales):
            raise ValueError("scales must be positive")
        return self

    def logit(self, x: dict[str, float]) -> float:
        return self.bias + sum(
            w * (x.get(f, m) - m) / s
            for f, w, m, s in zip(self.features, self.weights, self.means, self.scales, strict=True)
        )

    def probability(self, x: dict[str, float]) -> float:
        z = self.logit(x)
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result as the rest of the system learns from it (a plain frozen record:
    one is made per attempt of anything, on the hot path)."""

    target: str
    ok: bool
    latency_s: float = 0.0
    error_type: str | None = None
    status: int | None = None
    cost_usd: float = 0.0

    def __post_init__(self) -> None:
        if not (self.latency_s >= 0.0 and self.cost_usd >= 0.0):
            raise ValueError(f"an outcome's latency and cost cannot be negative: {self}")


Completer = Callable[[ModelRequest], Awaitable[Completion]]
"""How routers make the model calls they explicitly need, without importing ``models/``."""


class HealthSignal(Frozen):
    """What a health monitor reports about one node (agent or tool) at one step.

    ``priority`` in [0, 1] ranks signals for the control decision (highest wins);
    ``multiplier`` scales the node's edge weights; ``down`` sends them to infinity. A winning
    signal whose ``action`` is ``escalate`` stops the task with an explicit escalation.
    """

    monitor: str
    target: str
    kind: str
    priority: float = Field(default=0.0, ge=0.0, le=1.0)
    multiplier: float = Field(default=1.0, gt=0.0)
    down: bool = False
    action: Literal["reweight", "escalate"] = "reweight"
    detail: dict[str, float | str] = Field(default_factory=dict)
