"""Prices from a maintained price database (`genai-prices`) when a declaration gives none.

A wrong price silently breaks a budget, so a hosted model without a declared price is looked
up, and one the database does not know is refused with a clear error rather than priced at
zero. The source of every price a run uses is in its ``run_start`` event.
"""

from __future__ import annotations

from agentroute.errors import ConfigError
from agentroute.types import Price

SAMPLE = 1000
"""Tokens in and out of the call priced (per-token prices scale; tiers depend on length)."""
DECLARED = "declared"
"""The ``price_source`` of a price given in the declaration."""


def lookup(provider_id: str, model: str) -> tuple[Price, str]:
    """(USD per million tokens in and out, where it came from) for ``model`` at
    ``provider_id`` (genai-prices' provider ids: openai, anthropic, google, azure, groq,
    openrouter, deepseek, mistral, together, fireworks...)."""
    import genai_prices  # a 130 ms import: only when a price must be looked up

    try:
        found = genai_prices.calc_price(  # a short call: the base tier, not the long-context one
            genai_prices.Usage(input_tokens=SAMPLE, output_tokens=SAMPLE),
            model_ref=model,
            provider_id=provider_id,
        )
    except LookupError as exc:
        raise ConfigError(
            f"no known price for {model!r} at {provider_id!r} (genai-prices "
            f"{_version()}): give price_in= and price_out= (USD per million tokens)"
        ) from exc
    scale = 1_000_000 / SAMPLE
    price = Price(input_per_mtok=round(float(found.input_price) * scale, 6),
                  output_per_mtok=round(float(found.output_price) * scale, 6))  # fmt: skip
    return price, f"genai-prices {_version()}: {found.provider.id}/{found.model.id}"


def _version() -> str:
    from importlib.metadata import version

    return version("genai-prices")
