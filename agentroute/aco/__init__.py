"""Ant-colony routing: per-task-type pheromone specialists, intent inference, ant path
construction, an in-flight ledger, and a quality-gated updater that learns off the serving
path."""

from agentroute.aco.colony import AgentNode, Ant, AntRouter, Colony, Load, ant_pick
from agentroute.aco.inflight import Dispatch, InFlight
from agentroute.aco.intent import EmbeddingIntent, LLMIntent, softmax
from agentroute.aco.pheromone import START, Bounds, PheromoneMemory, PheromoneTable, path_edges
from agentroute.aco.updater import AntOutcome, PheromoneUpdater, Update, min_quality

__all__ = [
    "START", "AgentNode", "Ant", "AntOutcome", "AntRouter", "Bounds", "Colony", "Dispatch",
    "EmbeddingIntent", "InFlight", "LLMIntent", "Load", "PheromoneMemory", "PheromoneTable",
    "PheromoneUpdater", "Update", "ant_pick", "min_quality", "path_edges", "softmax",
]  # fmt: skip
