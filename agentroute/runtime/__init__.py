"""The executor that composes routers, budgets, models and traces into runs."""

from agentroute.runtime.conversation import Conversation
from agentroute.runtime.graph_run import GraphRunner
from agentroute.runtime.graph_state import GraphResult, NodeContext
from agentroute.runtime.pipeline import Pipeline
from agentroute.runtime.result import Pause, Result

__all__ = [
    "Conversation", "GraphResult", "GraphRunner", "NodeContext", "Pause", "Pipeline", "Result",
]  # fmt: skip
