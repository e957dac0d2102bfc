"""What a run hands back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentroute.errors import ConfigError
from agentroute.trace import Trace
from agentroute.types import Usage

if TYPE_CHECKING:
    from agentroute.engine.loop import RunOutcome


@dataclass(frozen=True)
class Pause:
    """A run waiting for a person: ``question`` says what to decide (``kind``
    ``approve_tool``: ``agent``, ``tool``, ``arguments``); ``checkpoint`` is everything the
    run needs to go on, as JSON data (`save` it, `load` it in another process, then
    `Pipeline.resume`)."""

    question: dict[str, Any]
    checkpoint: dict[str, Any]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"question": self.question, "checkpoint": self.checkpoint}))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Pause:
        """Read a saved pause (data only: nothing in it is run)."""
        try:
            data = json.loads(Path(path).read_text())
            return cls(question=dict(data["question"]), checkpoint=dict(data["checkpoint"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a saved pause: {exc}") from exc


def pause_of(outcome: RunOutcome) -> Pause | None:
    """The pause a run ended in, if it waits for a person."""
    question = outcome.state.question
    if outcome.checkpoint is None or question is None:
        return None
    return Pause(question=dict(question), checkpoint=outcome.checkpoint)


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
    paused: Pause | None = None
    """Set when the run stopped to wait for a person (then ``output`` is empty)."""
    data: Any = None
    """The answer as its agent's ``output_type`` (a validated pydantic object), when it has
    one; ``output`` holds its JSON."""
