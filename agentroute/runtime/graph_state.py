"""What a graph run hands back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agentroute.engine.state import NodeContext
from agentroute.runtime.result import Pause
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
    paused: Pause | None = None
    """Set when the run stopped to wait for a person (`GraphRunner.resume`)."""
    output: Any = None
    """What the run ended with: the last node's result, or a person's answer."""
