"""What a graph run hands back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agentroute.engine.state import NodeContext
from agentroute.trace import Trace

__all__ = ["GraphResult", "NodeContext"]


@dataclass(frozen=True)
class GraphResult:
    status: Literal["completed", "demoted", "escalated", "paused"]
    goal: str
    path: tuple[str, ...]
    results: dict[str, Any]
    reroutes: int
    llm_calls: int
    trace: Trace
    reason: str = ""
    cost_usd: float = 0.0
