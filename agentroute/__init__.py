"""agentroute: multi-agent LLM orchestration as routing over a cost-weighted graph.

Declare agents and models, run a `Pipeline`, read the `Trace` of every decision.

The public names below are imported on first use (PEP 562), so ``import agentroute`` costs
only the error types; ``from agentroute import Pipeline`` loads what a pipeline needs.
Subpackages (``agentroute.trace``, ``agentroute.models``...) are reachable as attributes too.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from agentroute.errors import (
    AgentrouteError,
    BudgetExceededError,
    ConfigError,
    LocalModelError,
    ModelError,
    RunError,
    StreamBrokenError,
    TraceError,
)

if TYPE_CHECKING:
    from agentroute.agents import Agent, PoolModel, Tool, tool
    from agentroute.budget import Budget, EntropyPolicy, FixedTierPolicy
    from agentroute.models import Model, RetryPolicy
    from agentroute.routers import MultiRoundRouter, ReasoningRouter, Router
    from agentroute.runtime import Conversation, Pause, Pipeline, Result
    from agentroute.trace import JsonlSink, Trace
    from agentroute.types import TextDelta

__version__ = "0.1.0"

# The module each lazily imported public name comes from.
_LAZY: dict[str, str] = {
    "Agent": "agentroute.agents",
    "PoolModel": "agentroute.agents",
    "Tool": "agentroute.agents",
    "tool": "agentroute.agents",
    "Budget": "agentroute.budget",
    "EntropyPolicy": "agentroute.budget",
    "FixedTierPolicy": "agentroute.budget",
    "Model": "agentroute.models",
    "RetryPolicy": "agentroute.models",
    "MultiRoundRouter": "agentroute.routers",
    "ReasoningRouter": "agentroute.routers",
    "Router": "agentroute.routers",
    "Pipeline": "agentroute.runtime",
    "Conversation": "agentroute.runtime",
    "Pause": "agentroute.runtime",
    "Result": "agentroute.runtime",
    "JsonlSink": "agentroute.trace",
    "Trace": "agentroute.trace",
    "TextDelta": "agentroute.types",
}

__all__ = [
    "Agent",
    "AgentrouteError",
    "Budget",
    "BudgetExceededError",
    "ConfigError",
    "Conversation",
    "EntropyPolicy",
    "FixedTierPolicy",
    "JsonlSink",
    "LocalModelError",
    "Model",
    "ModelError",
    "MultiRoundRouter",
    "Pause",
    "Pipeline",
    "PoolModel",
    "ReasoningRouter",
    "Result",
    "RetryPolicy",
    "Router",
    "RunError",
    "StreamBrokenError",
    "TextDelta",
    "Tool",
    "Trace",
    "TraceError",
    "__version__",
    "tool",
]  # fmt: skip


def _submodule(name: str) -> str | None:
    """``agentroute.<name>`` when that module exists, else None (private names never)."""
    if name.startswith("_"):
        return None
    full = f"{__name__}.{name}"
    return full if importlib.util.find_spec(full) is not None else None


if not TYPE_CHECKING:  # hidden from type checkers: an unknown name stays an error for them

    def __getattr__(name: str) -> object:
        """Import a public name (or a subpackage) on first access and keep it (PEP 562)."""
        if name in _LAZY:
            value = getattr(importlib.import_module(_LAZY[name]), name)
        elif (module := _submodule(name)) is not None:
            value = importlib.import_module(module)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
