"""The pure step: what one lane does next, from the run's state and the current weights.

`decide` reads and never writes; the loop (`agentroute.engine.loop`) does what it returns,
which is all the I/O there is. Dijkstra (the goal tree's path) picks the way; a branch point
on the way that has not chosen yet asks its chooser first (the router at ``^route``, the
switching policy at an agent, pheromones at a colony stage); several chosen agents, or a join
whose other prerequisites are not done, fan out; no way left means a lesser goal or an
explicit escalation.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentroute.engine.graph import RunGraph
from agentroute.engine.state import Lane, RunState
from agentroute.graph import Plan, Weights, reachable_lesser_goals
from agentroute.types import HealthSignal

EXECUTABLE = frozenset({"model", "program", "handler"})


@dataclass(frozen=True)
class Choose:
    """Ask the chooser of a branch point which successors to take."""

    node: str


@dataclass(frozen=True)
class Execute:
    """Run one unit of a node: a handler, a program, or the next model or tool call of an
    agent's turn on a model variant."""

    node: str


@dataclass(frozen=True)
class FanOut:
    """Start concurrent branches: one per chosen agent (``join`` None), or one per unmet
    prerequisite of ``join``."""

    source: str
    branches: tuple[str, ...]
    join: str | None = None
    via: str | None = None
    """For a join: the plan's node before it, where the lane goes on after the branches."""


@dataclass(frozen=True)
class Demote:
    """No way to the goal: take a lesser goal (the demoter picks among ``options``)."""

    options: tuple[Plan, ...]


@dataclass(frozen=True)
class Escalate:
    reason: str
    detail: dict[str, object]


@dataclass(frozen=True)
class HandOff:
    """A branch with no way left hands its work to an agent answering in a sibling branch."""

    to: str


@dataclass(frozen=True)
class Refine:
    """Several agents answered: merge their answers."""

    agents: tuple[str, ...]


@dataclass(frozen=True)
class Finish:
    pass


Action = Choose | Execute | FanOut | Demote | HandOff | Escalate | Refine | Finish


def decide(
    lane: Lane,
    run: RunState,
    graph: RunGraph,
    weights: Weights,
    plan: Plan | None,
    winner: HealthSignal | None = None,
) -> Action:
    if winner is not None and winner.action == "escalate":
        return Escalate(
            "health_escalation",
            {
                "monitor": winner.monitor,
                "signal": winner.kind,
                "target": winner.target,
                "priority": winner.priority,
            },
        )
    if lane.at == lane.goal:
        return _arrive(lane, run, graph)
    if plan is None:
        return _dead_end(lane, run, graph, weights)
    fan = _join_fan_out(lane, run, graph, plan)
    if fan is not None:
        return fan
    for i, name in enumerate(plan.path):
        kind = graph.nodes[name].kind
        if name in graph.branch_points:
            choice = lane.choices.get(name)
            if choice is None:
                return Choose(name)
            if kind == "route" and lane.only is None and len(choice.chosen) > 1:
                # only the route of a pipeline picks several agents (their answers are merged)
                return FanOut(name, choice.chosen)
        if i > 0 and kind in EXECUTABLE:
            return Execute(name)
    return _arrive(lane, run, graph)  # only branch points lie between here and the goal


def _arrive(lane: Lane, run: RunState, graph: RunGraph) -> Refine | Finish:
    """At the goal: several agents' answers are merged first."""
    if not graph.workflow and lane.name is None and len(run.answers) > 1 and lane.output is None:
        return Refine(tuple(run.answers))
    return Finish()


def _join_fan_out(lane: Lane, run: RunState, graph: RunGraph, plan: Plan) -> FanOut | None:
    """When the plan crosses a join whose other prerequisites are not done, reach them all."""
    requires = graph.graph.requires
    if not requires:
        return None
    for i, join in enumerate(plan.path[1:], start=1):
        if join not in requires or join in run.results:
            continue
        via = plan.path[i - 1]
        unmet = tuple(p for p in requires[join] if p not in run.results)
        if not [p for p in unmet if p != via]:
            return None
        return FanOut(lane.at, unmet, join, via)
    return None


def _dead_end(lane: Lane, run: RunState, graph: RunGraph, weights: Weights) -> Action:
    """A lesser goal when one is reachable (once per task, never inside a branch), otherwise
    an explicit escalation."""
    covered = next((c.covered for c in lane.choices.values() if c.covered), ())
    if lane.only is not None and covered:
        return HandOff(covered[0])
    options: tuple[Plan, ...] = ()
    if not lane.demoted and lane.name is None:
        reachable = reachable_lesser_goals(graph.graph, weights, lane.at)
        options = tuple(p for p in reachable if p.path[-1] != lane.goal)
    if options:
        return Demote(options)
    return Escalate(
        "no_feasible_path",
        {
            "goal": lane.goal,
            "at": lane.at,
            "why": "no feasible path to the goal and no reachable lesser goal",
            "excluded": sorted(run.excluded),
        },
    )
