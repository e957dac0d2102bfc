"""The executor that composes routers, budgets, models and traces into runs."""

from agentroute.runtime.pipeline import Pipeline
from agentroute.runtime.result import Result

__all__ = ["Pipeline", "Result"]
