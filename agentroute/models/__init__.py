"""Model endpoints: declarations, the OpenAI-compatible and Anthropic clients, the embedded
local models, and the one retry layer."""

from agentroute.models.connect import FunctionEndpoint, connect, prepare
from agentroute.models.endpoint import ModelEndpoint
from agentroute.models.model import LOCAL_PRICES, Adapters, Model, RetryPolicy
from agentroute.models.pool import Balance

__all__ = [
    "LOCAL_PRICES",
    "Adapters",
    "Balance",
    "FunctionEndpoint",
    "Model",
    "ModelEndpoint",
    "RetryPolicy",
    "connect",
    "prepare",
]
