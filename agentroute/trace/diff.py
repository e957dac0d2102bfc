"""Compare a replayed run with its recording, decision by decision.

Timestamps, latencies, wall time and retry waits are measurements, not decisions, and are
left out; everything else (routes, model choices, requests, responses, budget numbers, tool
calls, outcomes) must match exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentroute.events import TraceEvent
from agentroute.trace.tracer import Trace

NOT_DECISIONS = frozenset(
    {"v", "run_id", "seq", "ts", "latency_s", "wall_s", "wait_s", "queued_s", "prices", "ttft_s"}
)


def decision(event: TraceEvent) -> dict[str, Any]:
    return {k: v for k, v in event.model_dump(mode="json").items() if k not in NOT_DECISIONS}


@dataclass(frozen=True)
class Divergence:
    index: int
    step: int
    recorded: dict[str, Any] | None
    replayed: dict[str, Any] | None
    context: dict[str, Any] | None
    """The recorded event just before: usually the input of the diverging decision."""


@dataclass(frozen=True)
class ReplayReport:
    identical: bool
    events: int
    divergence: Divergence | None
    replayed: Trace

    def describe(self) -> str:
        if self.divergence is None:
            return f"identical: {self.events} decisions replayed with no model call"
        d = self.divergence

        def show(x: dict[str, Any] | None) -> str:
            return json.dumps(x, ensure_ascii=False, sort_keys=True) if x else "(nothing)"

        return (
            f"diverged at event {d.index} (step {d.step})\n"
            f"  recorded: {show(d.recorded)}\n"
            f"  replayed: {show(d.replayed)}\n"
            f"  input:    {show(d.context)}"
        )


def compare(recorded: Trace, replayed: Trace) -> ReplayReport:
    for i in range(max(len(recorded), len(replayed))):
        a = decision(recorded[i]) if i < len(recorded) else None
        b = decision(replayed[i]) if i < len(replayed) else None
        if a != b:
            step = (recorded[i] if i < len(recorded) else replayed[i]).step
            context = decision(recorded[i - 1]) if 0 < i <= len(recorded) else None
            return ReplayReport(False, i, Divergence(i, step, a, b, context), replayed)
    return ReplayReport(True, len(recorded), None, replayed)


# Budget snapshots taken while parallel agents run depend on which of them got there first:
# measurements of the interleaving, not decisions.
INTERLEAVING = frozenset({"spent_usd", "reserved_usd", "remaining_usd", "remaining_ratio"})


def compare_concurrent(recorded: Trace, replayed: Trace) -> ReplayReport:
    """For runs whose agents ran in parallel: each agent's decisions must match in order,
    and the run's own (agent-less) decisions too; how the agents' events interleaved, and
    the budget snapshots that depend on it, are left out."""

    def lanes(trace: Trace) -> dict[str | None, list[tuple[int, dict[str, Any]]]]:
        out: dict[str | None, list[tuple[int, dict[str, Any]]]] = {}
        for i, e in enumerate(trace):
            d = decision(e)
            for k in INTERLEAVING:
                d.pop(k, None)
            if isinstance(d.get("signals"), dict):
                d["signals"] = {k: v for k, v in d["signals"].items() if k not in INTERLEAVING}
            if e.kind == "run_end":  # its totals are decisions; its place in the order is not
                d.pop("parent", None)
            out.setdefault(e.agent, []).append((i, d))
        return out

    a, b = lanes(recorded), lanes(replayed)
    for agent in sorted(set(a) | set(b), key=str):
        left, right = a.get(agent, []), b.get(agent, [])
        for j in range(max(len(left), len(right))):
            x = left[j][1] if j < len(left) else None
            y = right[j][1] if j < len(right) else None
            if x != y:
                i = left[j][0] if j < len(left) else len(recorded)
                step = recorded[i].step if i < len(recorded) else 0
                context = left[j - 1][1] if 0 < j <= len(left) else None
                return ReplayReport(False, i, Divergence(i, step, x, y, context), replayed)
    return ReplayReport(True, len(recorded), None, replayed)


def summary(trace: Trace) -> dict[str, str]:
    """The facts a what-if comparison shows side by side."""
    from agentroute.events import ModelCallEvent, RouteEvent, RunEnd

    routes = trace.events(RouteEvent)
    calls = trace.events(ModelCallEvent)
    ends = trace.events(RunEnd)
    end = ends[-1] if ends else None
    return {
        "route": " + ".join(routes[-1].chosen) if routes else "-",
        "calls": ", ".join(f"{c.model}/{c.purpose}{'' if c.ok else ' FAILED'}" for c in calls)
        or "-",
        "cost_usd": f"{end.cost_usd:.6f}" if end else "-",
        "status": (end.status + (f" ({end.error_type})" if end.error_type else "")) if end else "-",
        "output": ((end.output or "").strip().replace("\n", " ")[:120] if end else "") or "-",
    }


def side_by_side(recorded: Trace, replayed: Trace) -> str:
    a, b = summary(recorded), summary(replayed)
    width = max(len(k) for k in a)
    lines = [f"{'':{width}}  recorded | what-if"]
    for key in a:
        mark = "  " if a[key] == b[key] else "* "
        lines.append(f"{mark}{key:{width}} {a[key]}\n{'':{width + 2}} {b[key]}")
    return "\n".join(lines)
