"""Declarations: `Agent`, `Tool` and the `@tool` decorator. Nothing here runs a model.

Declaring something invalid raises `ConfigError` on the spot, not at step 7 of a run.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from agentroute.budget.ledger import Budget
from agentroute.errors import ConfigError, ToolError
from agentroute.models.model import Model
from agentroute.routers.multi_round import Member, MultiRoundRouter
from agentroute.types import TIER_ORDER, ToolSpec

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{kind} name {name!r} must start with a letter and hold only letters, digits, "
            "'_' or '-' (at most 64 characters)"
        )


@dataclass(frozen=True)
class Tool:
    """A Python function a model may call, with a JSON schema of its arguments."""

    name: str
    description: str
    fn: Callable[..., Any]
    args_model: type[BaseModel]
    cost: float = 0.0
    approval: bool = False
    """A person approves each call before it runs: the run pauses (`Result.paused`) and
    goes on, in this process or another, once someone decides (`Pipeline.resume`)."""
    schema: dict[str, Any] | None = None
    """The arguments' JSON schema as the tool's owner states it (an MCP server's), shown to
    the model instead of ``args_model``'s; the owner checks the arguments."""

    def __post_init__(self) -> None:
        _check_name("tool", self.name)
        if not self.description.strip():
            raise ConfigError(f"tool {self.name!r} needs a description (its docstring)")
        if self.cost < 0:
            raise ConfigError(f"tool {self.name!r} has negative cost {self.cost}")

    @property
    def parameters(self) -> dict[str, Any]:
        if self.schema is not None:
            return self.schema
        schema = self.args_model.model_json_schema()
        schema.pop("title", None)
        return schema

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    async def invoke(self, arguments: str | dict[str, Any]) -> Any:
        """Validate the model-written arguments and run the function (sync ones in a thread)."""
        try:
            raw = json.loads(arguments) if isinstance(arguments, str) else arguments
            args = self.args_model.model_validate(raw)
        except (json.JSONDecodeError, ValidationError, RecursionError) as exc:
            raise ToolError(
                f"tool {self.name!r}: bad arguments: {str(exc)[:300]}", tool=self.name
            ) from exc
        kwargs = {k: getattr(args, k) for k in type(args).model_fields}
        if self.schema is not None:  # the owner's schema: its server checks the arguments
            kwargs = {**(args.model_extra or {}), **kwargs}
        try:
            if inspect.iscoroutinefunction(self.fn):
                result = await self.fn(**kwargs)
            else:
                result = await asyncio.to_thread(self.fn, **kwargs)
        except Exception as exc:
            raise ToolError(
                f"tool {self.name!r} raised {type(exc).__name__}: {exc}", tool=self.name
            ) from exc
        try:
            json.dumps(result)
        except (TypeError, ValueError) as exc:
            raise ToolError(
                f"tool {self.name!r} returned a value that is not JSON: {exc}", tool=self.name
            ) from exc
        return result


def _args_model(fn: Callable[..., Any], name: str) -> type[BaseModel]:
    try:
        hints = get_type_hints(fn)
    except Exception as exc:
        raise ConfigError(f"tool {name!r}: cannot read type hints: {exc}") from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(f"tool {name!r}: *args/**kwargs have no schema; name each argument")
        if param.name not in hints:
            raise ConfigError(
                f"tool {name!r}: argument {param.name!r} has no type hint, so no schema"
            )
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], default)
    try:
        return create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields)
    except Exception as exc:
        raise ConfigError(f"tool {name!r}: cannot build a schema: {exc}") from exc


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    cost: float = 0.0,
    approval: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    cost: float = 0.0,
    approval: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed function into a `Tool`; the schema comes from its type hints and the
    description from its docstring. ``approval=True``: a person approves each call first."""

    def wrap(f: Callable[..., Any]) -> Tool:
        tool_name = name or f.__name__
        doc = description if description is not None else inspect.getdoc(f) or ""
        return Tool(
            name=tool_name, description=doc, fn=f, args_model=_args_model(f, tool_name),
            cost=cost, approval=approval,
        )  # fmt: skip

    return wrap(fn) if fn is not None else wrap


@dataclass(frozen=True)
class PoolModel:
    """A model a multi-round agent may send sub-questions to (`Agent.pool`), described as
    Router-R1 describes its pool: the price (the model's own), the typical ``latency_s`` of
    an answer, and its example ``performance`` in words or figures; ``score`` (its share of
    example questions answered right, in [0, 1]) is what the cost weight trades against
    price."""

    model: Model
    performance: str
    latency_s: float | None = None
    score: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, Model):
            raise ConfigError(f"a pool model needs a Model, not {self.model!r}")
        self.member  # noqa: B018 - validates the description now, not at step 7

    @functools.cached_property
    def member(self) -> Member:
        """How the router reads this model."""
        price = self.model.price
        return Member(
            self.model.label, self.performance, price_in=price.input_per_mtok,
            price_out=price.output_per_mtok, latency_s=self.latency_s, score=self.score,
        )  # fmt: skip


@dataclass(frozen=True)
class Agent:
    """A named role: what it is for (used by routers), how it behaves, what it can use."""

    name: str
    description: str
    instructions: str = ""
    tools: Sequence[Tool] = ()
    models: Sequence[Model] = ()
    tags: frozenset[str] = field(default_factory=frozenset)
    handoffs: Sequence[str] = ()
    max_tokens: int = 256
    temperature: float = 0.0
    """Sampling temperature of the agent's answers (0: the most likely tokens; small models
    sometimes loop on a tool at 0)."""
    budget: Budget | None = None
    """A sub-budget inside the task's: this agent's calls count against both."""
    examples: Sequence[str] = ()
    """Requests this agent should handle; the semantic router compares queries with them."""
    fallbacks: Sequence[Model] = ()
    """Models tried, in this order, when the chosen model fails for good (after its
    retries); then the agent's other models, then the agents in ``handoffs``."""
    runner: Callable[[str], Awaitable[str]] | None = None
    """For an agent that is a program of its own (a compiled LangGraph graph, say): takes the
    task, returns the answer. It needs no model; its answer is traced and replayed."""
    output_type: type[BaseModel] | None = None
    """A pydantic model the answer must be: the model is asked for JSON of its schema
    (``response_format`` where the server takes one), the answer is validated, a bad one is
    sent back with what is wrong (up to twice, inside the budget), then the next model tries;
    `Result.data` is the validated object."""
    pool: Sequence[PoolModel] = ()
    """Models this agent's model consults, round by round (Router-R1): it sends each a
    sub-question, reads the answer, and writes the final answer itself. Its own ``models``
    are the router; ``rounds`` says how it routes (`MultiRoundRouter`)."""
    rounds: MultiRoundRouter | None = None

    def __post_init__(self) -> None:
        _check_name("agent", self.name)
        if not self.description.strip():
            raise ConfigError(f"agent {self.name!r} needs a description (routers choose by it)")
        for t in self.tools:
            if not isinstance(t, Tool):
                raise ConfigError(
                    f"agent {self.name!r}: {t!r} is not a Tool; decorate it with @tool"
                )
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise ConfigError(f"agent {self.name!r} has two tools with the same name")
        for m in (*self.models, *self.fallbacks):
            if not isinstance(m, Model):
                raise ConfigError(f"agent {self.name!r}: {m!r} is not a Model")
        if self.fallbacks and not self.models:
            raise ConfigError(f"agent {self.name!r} has fallbacks but no models")
        if self.name in self.handoffs:
            raise ConfigError(f"agent {self.name!r} hands off to itself")
        if self.runner is not None and (self.models or self.tools):
            raise ConfigError(
                f"agent {self.name!r} has a runner: its program brings its own models and tools"
            )
        if self.runner is not None and not callable(self.runner):
            raise ConfigError(f"agent {self.name!r}: runner {self.runner!r} is not callable")
        if self.max_tokens < 1:
            raise ConfigError(f"agent {self.name!r}: max_tokens must be >= 1")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"agent {self.name!r}: temperature must lie in [0, 2]")
        if self.output_type is not None and not (
            isinstance(self.output_type, type) and issubclass(self.output_type, BaseModel)
        ):
            raise ConfigError(f"agent {self.name!r}: output_type must be a pydantic model class")
        if self.pool or self.rounds is not None:
            self._check_pool()
        object.__setattr__(self, "tools", tuple(self.tools))
        object.__setattr__(
            self, "models", tuple(sorted(self.models, key=lambda m: TIER_ORDER[m.tier]))
        )
        object.__setattr__(self, "handoffs", tuple(self.handoffs))
        object.__setattr__(self, "fallbacks", tuple(self.fallbacks))
        object.__setattr__(self, "tags", frozenset(self.tags))

    def _check_pool(self) -> None:
        """A multi-round agent: pool models with distinct labels, a model to route with, and
        nothing that would answer in the router's place (tools, handoffs, a typed answer)."""
        if not self.pool:
            raise ConfigError(f"agent {self.name!r} has rounds but no pool to route to")
        for p in self.pool:
            if not isinstance(p, PoolModel):
                raise ConfigError(f"agent {self.name!r}: pool entry {p!r} is not a PoolModel")
        labels = [p.model.label for p in self.pool]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"agent {self.name!r}: pool models repeat: {labels}")
        if not self.models:
            raise ConfigError(f"agent {self.name!r} has a pool but no model to route with")
        if self.tools or self.handoffs or self.output_type is not None:
            raise ConfigError(
                f"agent {self.name!r} routes to a pool: it takes no tools, handoffs or "
                "output_type (its pool models answer its sub-questions)"
            )
        if self.rounds is None:
            object.__setattr__(self, "rounds", MultiRoundRouter())
        elif not isinstance(self.rounds, MultiRoundRouter):
            raise ConfigError(f"agent {self.name!r}: rounds must be a MultiRoundRouter")
        object.__setattr__(self, "pool", tuple(self.pool))

    @functools.cached_property
    def members(self) -> tuple[Member, ...]:
        """The pool as the router reads it."""
        return tuple(p.member for p in self.pool)

    def tool_named(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    @functools.cached_property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema of ``output_type`` (None without one), built once."""
        return None if self.output_type is None else self.output_type.model_json_schema()

    def check_output(self, text: str) -> str | None:
        """What is wrong with ``text`` as this agent's output (None: nothing)."""
        if self.output_type is None:
            return None
        try:
            self.output_type.model_validate_json(text)
        except ValidationError as exc:
            return "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or 'the answer'}: {e['msg']}"
                for e in exc.errors()[:5]
            )[:600]
        return None


def check_handoffs(agents: Sequence[Agent]) -> None:
    """Every handoff must name a declared agent; names must be unique."""
    names = [a.name for a in agents]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"agent names must be unique; repeated: {sorted(dupes)}")
    known = set(names)
    for a in agents:
        unknown = [h for h in a.handoffs if h not in known]
        if unknown:
            raise ConfigError(
                f"agent {a.name!r} hands off to unknown agent(s) {unknown}; "
                f"declared agents are {sorted(known)}"
            )
