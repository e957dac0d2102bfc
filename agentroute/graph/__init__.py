"""The cost-weighted agent/tool graph: validation, reweighting and Dijkstra routing."""

from agentroute.graph.model import Edge, TaskGraph
from agentroute.graph.paths import Plan, reachable_lesser_goals, shortest_path
from agentroute.graph.spt import GoalTree
from agentroute.graph.weights import (
    Reweighter,
    Weights,
    changed,
    edge_key,
    node_factors,
    reweight,
)

__all__ = [
    "Edge", "GoalTree", "Plan", "Reweighter", "TaskGraph", "Weights", "changed", "edge_key",
    "node_factors", "reachable_lesser_goals", "reweight", "shortest_path",
]  # fmt: skip
