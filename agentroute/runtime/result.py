"""What a run hands back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentroute.trace import Trace
from agentroute.types import Usage


@dataclass(frozen=True)
class Result:
    output: str
    agents: tuple[str, ...]
    models: tuple[str, ...]
    usage: Usage
    cost_usd: float
    model_calls: int
    wall_s: float
    trace: Trace
    trace_path: Path | None = None
    route_reason: str = ""
