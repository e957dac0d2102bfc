"""The values a graph run works with: what handlers see, what a run returns, and the
mutable state of one task (or one fan-out branch) while it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agentroute.graph import GoalTree, Plan, Reweighter
from agentroute.trace import Trace
from agentroute.types import Outcome


@dataclass(frozen=True)
class NodeContext:
    """What a node's handler gets: the task, its node name, the results so far, and
    ``facts``, where it may report what it saw for the monitors (for example
    ``facts["ratelimit:search_api"] = 0.8`` from a rate-limit header)."""

    task: str
    node: str
    results: Mapping[str, Any]
    facts: dict[str, float] = field(default_factory=dict)


Handler = Callable[[NodeContext], Any]


@dataclass(frozen=True)
class GraphResult:
    status: Literal["completed", "demoted", "escalated"]
    goal: str
    path: tuple[str, ...]
    results: dict[str, Any]
    reroutes: int
    llm_calls: int
    trace: Trace
    reason: str = ""


@dataclass
class State:
    current: str
    goal: str
    taken: list[str]
    results: dict[str, Any] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    excluded: set[str] = field(default_factory=set)
    plan: Plan | None = None
    reweighter: Reweighter | None = None
    tree: GoalTree | None = None
    last_failed: str | None = None
    reroutes: int = 0
    llm_calls: int = 0
    demoted: bool = False
    branch: str | None = None
    inflight: dict[str, asyncio.Future[bool]] = field(default_factory=dict)
    facts: dict[str, float] = field(default_factory=dict)
    signals: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    """The signals in force, as last traced: only changes are traced again."""

    def result(
        self, status: Literal["completed", "demoted", "escalated"], reason: str = ""
    ) -> GraphResult:
        """This state as a result (the runner attaches the trace at the end)."""
        return GraphResult(
            status=status,
            goal=self.goal,
            path=tuple(self.taken),
            results=self.results,
            reroutes=self.reroutes,
            llm_calls=self.llm_calls,
            trace=Trace(()),
            reason=reason,
        )

    def fork(self, goal: str) -> State:
        """A branch toward ``goal`` that shares results, outcomes and exclusions."""
        return State(
            current=self.current,
            goal=goal,
            taken=[],
            results=self.results,
            outcomes=self.outcomes,
            failures=self.failures,
            excluded=self.excluded,
            branch=goal,
            inflight=self.inflight,
            facts=self.facts,
        )
