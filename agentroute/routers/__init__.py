"""Routers choose which agent(s) or model handles a request."""

from agentroute.routers.base import Candidate, FirstRouter, Router
from agentroute.routers.reasoning import ReasoningRouter

__all__ = ["Candidate", "FirstRouter", "ReasoningRouter", "Router"]
