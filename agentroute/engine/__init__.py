"""The engine: one compiled graph, one pure step function, one loop that does all I/O.

- `graph`: declarations (agents, model variants, tools, handoffs) or a `TaskGraph`, compiled
  into one cost-weighted graph with typed nodes and branch points.
- `decide`: the pure step, ``decide(lane, state, graph, weights, plan) -> action``.
- `choosers`: what decides at branch points (router, switching policy, pheromones).
- `calls`: the one caller (models, tools, handlers, programs), one `Outcome` per attempt.
- `serving`: the live state the caller keeps for pooled models and adapter routing.
- `loop`: `Engine` and `Session`, the loop and its drivers' interface.
- `streaming`: streamed answers, the budget held as they arrive, continuation at a break.
- `run_stream`: a run as a stream of its decisions and its answers' text.
- `replay`: one replay for every kind of run.
"""

from agentroute.engine.calls import EndpointPool, ModelCaller
from agentroute.engine.graph import (
    Choice,
    Node,
    RunGraph,
    from_agents,
    from_stages,
    from_task_graph,
)
from agentroute.engine.loop import TASK_ATTEMPT, Engine, RunOutcome, Session
from agentroute.engine.run_stream import RunStream
from agentroute.engine.serving import Serving
from agentroute.engine.state import Lane, NodeContext, RunState, Turn

__all__ = [
    "TASK_ATTEMPT",
    "Choice",
    "EndpointPool",
    "Engine",
    "Lane",
    "ModelCaller",
    "Node",
    "NodeContext",
    "RunGraph",
    "RunOutcome",
    "RunState",
    "RunStream",
    "Serving",
    "Session",
    "Turn",
    "from_agents",
    "from_stages",
    "from_task_graph",
]
