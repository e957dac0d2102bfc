"""The executor that composes routers, budgets, models and traces into runs."""

from agentroute.runtime.graph_run import GraphResult, GraphRunner, NodeContext
from agentroute.runtime.pipeline import Pipeline
from agentroute.runtime.result import Result

__all__ = ["GraphResult", "GraphRunner", "NodeContext", "Pipeline", "Result"]
