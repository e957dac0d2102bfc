"""`Model`: a declared endpoint plus its price, context limit and tier.

A `Model` is a plain value. It holds no connection; `agentroute.models.connect` turns it into
a live endpoint when a run needs one. Credentials are `SecretStr` so they never print.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from agentroute.errors import ConfigError
from agentroute.models.pool import Balance, replica_names
from agentroute.models.presets import PRESETS
from agentroute.models.prices import DECLARED, lookup
from agentroute.types import Price, Tier

Provider = Literal["openai", "azure", "anthropic", "local", "function"]
"""``function``: a Python completion function the engine calls like a model (`Model.function`)."""

# Notional prices for the embedded models (USD per million tokens). Local compute is not
# billed, but small/large switching and budgets need a cost that reflects how much more the
# large model costs to run; the 1.5B model is roughly 2-3x slower than the 0.5B here.
LOCAL_PRICES: dict[str, Price] = {
    "tiny": Price(input_per_mtok=0.01, output_per_mtok=0.02),
    "small": Price(input_per_mtok=0.05, output_per_mtok=0.10),
    "large": Price(input_per_mtok=0.20, output_per_mtok=0.60),
}


class RetryPolicy(BaseModel):
    """How the one retry layer treats a model call. A frozen, printable value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=3, ge=1, le=20)
    initial_backoff_s: float = Field(default=0.2, ge=0.0)
    max_backoff_s: float = Field(default=8.0, ge=0.0)
    max_retry_after_s: float = Field(default=30.0, ge=0.0)
    attempt_timeout_s: float = Field(default=60.0, gt=0.0)
    deadline_s: float = Field(default=180.0, gt=0.0)

    @classmethod
    def none(cls) -> RetryPolicy:
        return cls(max_attempts=1)


class Adapters(BaseModel):
    """The LoRA adapters a model's server offers (vLLM serves each under its own model name;
    llama.cpp loads them at start), and how the engine chooses one per call: a cache-aware
    contextual bandit (`agentroute.routers.adapters`) learns which adapter pays off for which
    query, and an epoch controller keeps ``capacity`` of them resident, charging the paging of
    a cold one in the choice. A frozen, printable value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    names: tuple[str, ...] = Field(min_length=1)
    capacity: int = Field(default=2, ge=1)
    """How many adapters the server keeps in fast memory at once."""
    paging_s: float | dict[str, float] = 0.5
    """Seconds it takes to page in a cold adapter: one figure, or one per adapter."""
    epoch: int = Field(default=64, ge=1)
    """Calls between two residency decisions."""
    alpha: float = Field(default=0.5, ge=0.0)
    """LinUCB's exploration width."""
    paging_weight: float = Field(default=1.0, ge=0.0)
    """Reward one second of paging costs (quality is on a 0..1 scale)."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(f"invalid Adapters: {exc}") from exc

    @model_validator(mode="after")
    def _check(self) -> Adapters:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"adapter names repeat: {self.names}")
        if self.capacity > len(self.names):
            raise ValueError(f"capacity {self.capacity} exceeds the {len(self.names)} adapters")
        costs = self.paging_s.values() if isinstance(self.paging_s, dict) else [self.paging_s]
        if any(not math.isfinite(c) or c < 0 for c in costs):
            raise ValueError(f"paging_s must be finite seconds >= 0, got {self.paging_s}")
        if isinstance(self.paging_s, dict) and set(self.paging_s) != set(self.names):
            raise ValueError("paging_s by adapter must name exactly the adapters")
        return self

    def paging(self, name: str) -> float:
        """Seconds to page in ``name``."""
        return self.paging_s[name] if isinstance(self.paging_s, dict) else self.paging_s


class Model(BaseModel):
    """A model endpoint users route work to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Provider
    name: str = Field(min_length=1)
    base_url: str | None = None
    api_key: SecretStr | None = Field(default=None, repr=False)
    price: Price = Price()
    context_window: int = Field(default=8192, ge=1)
    tier: Tier = "small"
    retry: RetryPolicy = RetryPolicy()
    alias: str | None = Field(default=None, min_length=1)
    """The label in traces and budgets instead of ``provider:name`` (two gateways serving the
    same model name need two labels)."""
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    """Sent with every request (a gateway's auth, OpenRouter's ``HTTP-Referer``); values of
    credential-like headers are kept out of traces and logs like the key."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Merged into every request's body (a server's own options, such as vLLM's
    ``continue_final_message`` or OpenRouter's ``provider`` preferences)."""
    api_version: str | None = None
    """Azure OpenAI's ``api-version``."""
    max_in_flight: int = Field(default=100, ge=1, le=10_000)
    """The most requests sent to this model at once from one event loop; more wait in line
    (the wait is traced as ``queued_s``), and as many connections are kept open. A fast
    local server serves more calls per second with fewer (see ``benchmarks/throughput.py``);
    a hosted model's rate limit may call for fewer still."""
    price_source: str = DECLARED
    """Where ``price`` comes from: ``declared``, or the price database and its entry."""
    replicas: tuple[str, ...] = ()
    """Every base URL serving this model when it is a pool (``base_url`` is the first); empty
    for one server. The engine picks a replica per attempt (`balance`)."""
    balance: Balance = Balance()
    """How a pool spreads its calls (`agentroute.models.pool`)."""
    adapters: Adapters | None = None
    """LoRA adapters the server offers, chosen per call (`Adapters`)."""

    @model_validator(mode="after")
    def _check(self) -> Model:
        for url in (self.base_url, *self.replicas):
            if (
                self.provider != "local"
                and url is not None
                and not url.startswith(("http://", "https://"))
            ):
                raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
        if self.replicas:
            if self.provider != "openai":
                raise ValueError("only OpenAI-compatible models can be served by a pool")
            if len(self.replicas) < 2 or self.base_url != self.replicas[0]:
                raise ValueError("a pool lists two or more replicas, base_url the first")
            replica_names(self.replicas)
        return self

    def __hash__(self) -> int:
        # headers and extra_body are dicts: hash the declaration's JSON (the key is masked in
        # it, so two models that differ by key alone share a hash and compare unequal)
        return hash(self.model_dump_json())

    @property
    def label(self) -> str:
        """Human-readable id used in traces and budgets; unique within a runner (two models
        with one label are a `ConfigError`), while the endpoint is told apart by its base URL
        and credentials too."""
        return self.alias or f"{self.provider}:{self.name}"

    def secrets(self) -> list[str]:
        """Every credential this declaration carries, wherever it was put: the key, and a
        password or query value in the base URL (some gateways take ``?api-key=...``)."""
        out = [self.api_key.get_secret_value()] if self.api_key is not None else []
        out += [v for k, v in self.headers.items() if _SECRET_HEADER.search(k) and v]
        for url in dict.fromkeys(u for u in (self.base_url, *self.replicas) if u):
            parts = urlsplit(url)
            out += [p for p in (parts.password, parts.username) if p]
            out += [v for _, v in parse_qsl(parts.query) if v]
        return out

    @property
    def replica_names(self) -> tuple[str, ...]:
        """What traces and monitors call this pool's replicas (empty for one server); a
        replica's health target is ``<label>@<name>``."""
        return replica_names(self.replicas) if self.replicas else ()

    def replica(self, index: int) -> Model:
        """The model as served by one replica of its pool: the same label, price and
        policies, one base URL."""
        return self.model_copy(update={"base_url": self.replicas[index], "replicas": ()})

    # -- constructors ---------------------------------------------------------------------

    @classmethod
    def _build(cls, **kwargs: object) -> Model:
        try:
            return cls.model_validate(kwargs)
        except ValidationError as exc:
            raise ConfigError(f"invalid model declaration: {exc}") from exc

    @classmethod
    def openai_compatible(
        cls,
        base_url: str | Sequence[str],
        name: str,
        *,
        api_key: str | None = None,
        price_in: float = 0.0,
        price_out: float = 0.0,
        context_window: int = 8192,
        tier: Tier = "large",
        retry: RetryPolicy | None = None,
        alias: str | None = None,
        headers: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
        max_in_flight: int = 100,
        balance: Balance | None = None,
        adapters: Adapters | None = None,
    ) -> Model:
        """Any OpenAI-compatible server: vLLM, SGLang, Ollama, llama.cpp, TGI, OpenAI itself
        (prices default to 0: a self-hosted model; see `preset` for hosted services).

        ``base_url`` may list several servers of the same model: a pool, whose replicas the
        engine picks per call by ``balance`` (`agentroute.models.pool`; ``max_in_flight`` is
        then per replica). ``adapters``: the LoRA adapters the server offers."""
        _check_prices(price_in, price_out)
        urls = _urls(base_url)
        return cls._build(
            provider="openai",
            name=name,
            alias=alias,
            base_url=urls[0],
            replicas=urls if len(urls) > 1 else (),
            balance=balance or Balance(),
            adapters=adapters,
            api_key=api_key,
            price=Price(input_per_mtok=price_in, output_per_mtok=price_out),
            context_window=context_window,
            tier=tier,
            retry=retry or RetryPolicy(),
            headers=dict(headers or {}),
            extra_body=dict(extra_body or {}),
            max_in_flight=max_in_flight,
        )

    @classmethod
    def preset(
        cls,
        service: str,
        name: str,
        *,
        api_key: str | None = None,
        base_url: str | Sequence[str] | None = None,
        price_in: float | None = None,
        price_out: float | None = None,
        tier: Tier = "large",
        context_window: int = 128_000,
        retry: RetryPolicy | None = None,
        alias: str | None = None,
        headers: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
        balance: Balance | None = None,
        adapters: Adapters | None = None,
    ) -> Model:
        """A model on a named OpenAI-compatible service (`agentroute.models.presets`:
        openai, openrouter, gemini, groq, together, fireworks, deepseek, mistral, ollama,
        vllm, sglang, llama.cpp): its URL (``base_url`` overrides it), its key from the
        service's environment variable unless given, and, for a hosted one, its price from
        genai-prices unless given (an unknown one is a `ConfigError`, never a free model)."""
        found = PRESETS.get(service)
        if found is None:
            raise ConfigError(f"unknown service {service!r}; presets: {sorted(PRESETS)}")
        key = api_key or (os.environ.get(found.key_env) if found.key_env else None)
        if found.key_env and not key:
            raise ConfigError(f"{service} needs api_key= or {found.key_env} in the environment")
        price, source = _price(found.price_id, name, price_in, price_out)
        model = cls.openai_compatible(
            base_url or found.base_url, name, api_key=key, price_in=price.input_per_mtok,
            price_out=price.output_per_mtok, context_window=context_window, tier=tier,
            retry=retry, alias=alias, headers={**found.headers, **(headers or {})},
            extra_body=extra_body, balance=balance, adapters=adapters,
        )  # fmt: skip
        return model.model_copy(update={"price_source": source})

    @classmethod
    def azure(
        cls,
        deployment: str,
        *,
        endpoint: str,
        api_version: str,
        model: str | None = None,
        api_key: str | None = None,
        price_in: float | None = None,
        price_out: float | None = None,
        tier: Tier = "large",
        context_window: int = 128_000,
        retry: RetryPolicy | None = None,
        alias: str | None = None,
    ) -> Model:
        """A deployment on Azure OpenAI (``endpoint``: ``https://<resource>.openai.azure.com``;
        the key defaults to ``AZURE_OPENAI_API_KEY``); ``model`` names what is deployed, for
        its price (default: the deployment's name)."""
        key = api_key or os.environ.get("AZURE_OPENAI_API_KEY")
        if not key:
            raise ConfigError("Model.azure needs api_key= or AZURE_OPENAI_API_KEY")
        price, source = _price("azure", model or deployment, price_in, price_out)
        return cls._build(
            provider="azure", name=deployment, alias=alias, base_url=endpoint.rstrip("/"),
            api_key=key, price=price, price_source=source, api_version=api_version,
            context_window=context_window, tier=tier, retry=retry or RetryPolicy(),
        )  # fmt: skip

    @classmethod
    def openai(
        cls,
        name: str,
        *,
        price_in: float | None = None,
        price_out: float | None = None,
        tier: Tier = "large",
        api_key: str | None = None,
        context_window: int = 128_000,
    ) -> Model:
        """The hosted OpenAI API; the key defaults to ``OPENAI_API_KEY``, the price to
        genai-prices' entry."""
        return cls.preset(
            "openai", name, api_key=api_key, price_in=price_in, price_out=price_out,
            tier=tier, context_window=context_window,
        )  # fmt: skip

    @classmethod
    def anthropic(
        cls,
        name: str,
        *,
        price_in: float | None = None,
        price_out: float | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        tier: Tier = "large",
        context_window: int = 200_000,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> Model:
        """The Anthropic Messages API; the key defaults to ``ANTHROPIC_API_KEY``, the price
        to genai-prices' entry."""
        if not (api_key or os.environ.get("ANTHROPIC_API_KEY")):
            raise ConfigError(
                "Model.anthropic needs api_key= or ANTHROPIC_API_KEY in the environment"
            )
        price, source = _price("anthropic", name, price_in, price_out)
        return cls._build(
            provider="anthropic",
            name=name,
            base_url=base_url.rstrip("/") if base_url else None,
            api_key=api_key or os.environ.get("ANTHROPIC_API_KEY"),
            price=price,
            price_source=source,
            context_window=context_window,
            tier=tier,
            retry=retry or RetryPolicy(),
            headers=dict(headers or {}),
            extra_body=dict(extra_body or {}),
        )

    @classmethod
    def function(
        cls, name: str, *, tier: Tier = "small", retry: RetryPolicy | None = None
    ) -> Model:
        """A model served by a Python function ``async (ModelRequest) -> Completion`` that the
        engine is given under ``name`` (a demoter in tests, a rule-based stand-in): its calls
        are retried, budgeted at price 0 and traced like any other."""
        return cls._build(provider="function", name=name, tier=tier,
                          retry=retry or RetryPolicy(max_attempts=1))  # fmt: skip

    @classmethod
    def local(cls, tier: Tier = "small", *, price: Price | None = None) -> Model:
        """An embedded model served by llama.cpp on 127.0.0.1, started on demand.

        Run ``agentroute models pull`` once to fetch the weights.
        """
        if tier not in LOCAL_PRICES:
            raise ConfigError(f"unknown local model {tier!r}; choose one of {sorted(LOCAL_PRICES)}")
        return cls._build(
            provider="local",
            name=tier,
            price=price or LOCAL_PRICES[tier],
            context_window=2048,
            tier=tier,
            retry=RetryPolicy(attempt_timeout_s=300.0, deadline_s=600.0),
        )


_SECRET_HEADER = re.compile(r"auth|key|token|secret|password|cookie", re.I)


def _price(
    price_id: str | None, name: str, price_in: float | None, price_out: float | None
) -> tuple[Price, str]:
    """The declared price, or the database's for a hosted model (self-hosted: free)."""
    if price_in is not None or price_out is not None:
        if price_in is None or price_out is None:
            raise ConfigError("give both price_in and price_out, or neither")
        _check_prices(price_in, price_out)
        return Price(input_per_mtok=price_in, output_per_mtok=price_out), DECLARED
    if price_id is None:
        return Price(), "self-hosted: free unless priced"
    return lookup(price_id, name)


def _urls(base_url: str | Sequence[str]) -> tuple[str, ...]:
    """One base URL, or a pool's, without trailing slashes."""
    urls = (base_url,) if isinstance(base_url, str) else tuple(base_url)
    if not urls or not all(isinstance(u, str) for u in urls):
        raise ConfigError(f"base_url must be a URL or a list of URLs, got {base_url!r}")
    return tuple(u.rstrip("/") for u in urls)


def _check_prices(*prices: float) -> None:
    for p in prices:
        if not isinstance(p, int | float) or p < 0 or not math.isfinite(p):
            raise ConfigError(
                f"price must be a finite number >= 0 USD per million tokens, got {p!r}"
            )
