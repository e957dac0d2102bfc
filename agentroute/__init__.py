"""agentroute: multi-agent LLM orchestration as routing over a cost-weighted graph.

Declare agents and models, run a `Pipeline`, read the `Trace` of every decision.
"""

from agentroute.agents import Agent, Tool, tool
from agentroute.budget import Budget, EntropyPolicy, FixedTierPolicy
from agentroute.errors import (
    AgentrouteError,
    BudgetExceededError,
    ConfigError,
    LocalModelError,
    ModelError,
    RunError,
    TraceError,
)
from agentroute.models import Model, RetryPolicy
from agentroute.routers import ReasoningRouter, Router
from agentroute.runtime import Pipeline, Result
from agentroute.trace import JsonlSink, Trace

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentrouteError",
    "Budget",
    "BudgetExceededError",
    "ConfigError",
    "EntropyPolicy",
    "FixedTierPolicy",
    "JsonlSink",
    "LocalModelError",
    "Model",
    "ModelError",
    "Pipeline",
    "ReasoningRouter",
    "Result",
    "RetryPolicy",
    "Router",
    "RunError",
    "Tool",
    "Trace",
    "TraceError",
    "__version__",
    "tool",
]  # fmt: skip
