"""Routers choose which agent(s) or model handles a request."""

from agentroute.routers.answers import AnswerChecks, check_answer, final_number, normalize
from agentroute.routers.bandit import LinUCBRouter, query_features, reward
from agentroute.routers.base import Candidate, FirstRouter, Router, check_candidates
from agentroute.routers.cascade import (
    CascadeRouter,
    learned_confidence,
    token_confidence,
    verifier_confidence,
)
from agentroute.routers.entropy import EntropyRouter
from agentroute.routers.multi_round import (
    AnswerAction,
    Member,
    MultiRoundRouter,
    RouteAction,
    parse_action,
    parse_choice,
)
from agentroute.routers.preference import PreferenceRouter, Route
from agentroute.routers.reasoning import ReasoningRouter
from agentroute.routers.semantic import SemanticRouter, calibrate
from agentroute.routers.sigma import SigmaRouter, sigma

__all__ = [
    "AnswerAction", "AnswerChecks", "Candidate", "CascadeRouter", "EntropyRouter", "FirstRouter",
    "LinUCBRouter", "Member", "MultiRoundRouter", "PreferenceRouter", "ReasoningRouter", "Route",
    "RouteAction", "Router", "SemanticRouter", "SigmaRouter", "calibrate", "check_answer",
    "check_candidates", "final_number", "learned_confidence", "normalize", "parse_action",
    "parse_choice", "query_features", "reward", "sigma", "token_confidence",
    "verifier_confidence",
]  # fmt: skip
