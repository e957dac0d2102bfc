"""A trace as an outline: one short, human line per event, nested as the run happened.

`outline` turns events into `Line`s (a depth, a text and a style name); ``agentroute trace
show`` only draws them as a tree. Nesting follows each event's ``parent`` (the ``seq`` of the
event it happened under); an event without one hangs under its run's ``run_start``, in file
order. Under one parent, consecutive events about the same graph node (an agent, a model
variant, a tool or handler node) are gathered under a line naming that node; the engine's own
nodes (``^start``, ``^route``, ``^done``) get none, so reroutes and reweights sit between the
nodes they separate.

A trace is data written by models, tools and users: every string taken from it goes through
`clean`, which makes control characters visible (``\\x1b``, ``\\n``, ``\\u202e``) and cuts long
text with an ellipsis. Nothing here parses markup: the renderer must not either.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from agentroute.events import (
    AdapterPick,
    AgentRunEvent,
    AntStepEvent,
    BudgetRefused,
    BudgetReserve,
    BudgetSettle,
    DecisionEvent,
    Escalation,
    EventBase,
    FanOutEvent,
    HandoffEvent,
    HealthSignalEvent,
    HealthStateEvent,
    ModelCallEvent,
    ModelSwitch,
    NodeRunEvent,
    OutputCheck,
    PathEvent,
    PauseEvent,
    PheromoneUpdateEvent,
    ReplicaPick,
    RerouteEvent,
    ResumeEvent,
    RetryEvent,
    ReweightEvent,
    RoundEvent,
    RouteEvent,
    RunEnd,
    RunStart,
    SignalState,
    TaskRetryEvent,
    ToolCallEvent,
)

SHORT = 60
"""Characters kept of a string inside a line (a result, a reason, a question)."""
LONG = 120
"""Characters kept of the strings a line is about (the task, an error, the output)."""
MAX_LINE = 400
"""No line is longer, whatever its fields hold."""
MAX_DEPTH = 12
"""Deeper events are drawn at this depth (a hostile trace can chain parents for ever)."""
ELLIPSIS = "…"

E = TypeVar("E", bound=EventBase)
Said = tuple[str, str]
"""What a formatter says about one event: its text and a style name."""

_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
"""Unicode categories a terminal may act on or not show: controls, formatting (bidi
overrides, zero-width characters), line and paragraph separators, surrogates, private and
unassigned code points."""
_BASE_FIELDS = frozenset(EventBase.model_fields) | {"kind"}


@dataclass(frozen=True)
class Line:
    """One line of the outline: how deep it sits, what it says, how to colour it."""

    depth: int
    text: str
    style: str = ""
    """A Rich style name (``"red"``, ``"bold"``); "" for the terminal's default."""
    kind: str = ""
    """The event kind the line is about; ``"node"`` for a line that names a graph node."""
    seq: int | None = None
    """The event's ``seq``; None for a node line."""


# -- strings from the trace --------------------------------------------------------------------
def _visible(ch: str) -> str:
    """``ch`` as it may reach a terminal: controls, invisible formatting and line breaks
    become escapes."""
    if ch in "\n\t\r":
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch]
    if unicodedata.category(ch) in _HIDDEN:
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def clean(value: object, limit: int = LONG) -> str:
    """``value`` as one line of plain text: control characters made visible, at most
    ``limit`` characters (the rest replaced by an ellipsis). Markup is left as it is: it is
    the renderer's job to show it as text."""
    text = value if isinstance(value, str) else str(value)
    out: list[str] = []
    used = 0
    for ch in text:
        piece = _visible(ch)
        if used + len(piece) > limit:
            out.append(ELLIPSIS)
            break
        out.append(piece)
        used += len(piece)
    return "".join(out)


def first_line(text: str | None, limit: int = LONG) -> str:
    """The first non-empty line of ``text``, cleaned, with an ellipsis when more follows."""
    lines = [x for x in (text or "").strip().splitlines() if x.strip()]
    if not lines:
        return ""
    head = clean(lines[0].strip(), limit)
    return head + ELLIPSIS if len(lines) > 1 and not head.endswith(ELLIPSIS) else head


def _quote(text: str | None, limit: int = SHORT) -> str:
    return f'"{clean(text or "", limit)}"'


def _usd(x: float | None) -> str:
    if x is None:
        return "no limit"
    if math.isinf(x):
        return "$∞"
    digits = f"{x:.8f}".rstrip("0").rstrip(".")
    return f"${digits}" if digits not in ("", "-0") else "$0"


def _secs(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def _num(x: float) -> str:
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.4g}"


def _names(items: Sequence[str], limit: int = 6, sep: str = ", ") -> str:
    shown = [clean(x, SHORT) for x in items[:limit]]
    more = f"{sep}+{len(items) - limit} more" if len(items) > limit else ""
    return sep.join(shown) + more


def _route(path: Sequence[str]) -> str:
    """A path as ``a → b → c``, its middle left out when it is long."""
    if len(path) > 8:
        return _names([*path[:3], ELLIPSIS, *path[-3:]], limit=7, sep=" → ")
    return _names(path, limit=8, sep=" → ")


def _pairs(data: Mapping[str, Any], limit: int = 4) -> str:
    """``k=v, …`` for a mapping's first entries, each value short."""
    shown = [f"{clean(k, 30)}={_short(v)}" for k, v in list(data.items())[:limit]]
    if len(data) > limit:
        shown.append(f"+{len(data) - limit} more")
    return ", ".join(shown)


def _short(value: Any, limit: int = SHORT) -> str:
    if isinstance(value, str):
        return clean(value, limit)
    if isinstance(value, float):
        return _num(value)
    return clean(json.dumps(value, ensure_ascii=False, default=str), limit)


def _stored(result: str | None) -> str:
    """A tool's stored result (JSON text when the tool returned data), short."""
    if result is None:
        return ""
    try:
        value = json.loads(result)
    except ValueError:
        value = result
    return _short(value)


# -- one line per kind -------------------------------------------------------------------------
FORMATS: dict[str, Callable[[Any], Said]] = {}
"""The formatter for each event kind (`describe` falls back to the fields for others)."""


def _formats(cls: type[E]) -> Callable[[Callable[[E], Said]], Callable[[E], Said]]:
    def register(fn: Callable[[E], Said]) -> Callable[[E], Said]:
        FORMATS[str(cls.model_fields["kind"].default)] = fn
        return fn

    return register


@_formats(RunStart)
def _run_start(e: RunStart) -> Said:
    parts = [
        f"run {clean(e.run_id, 40)}: {_quote(e.task, LONG)}",
        f"router {clean(e.router, SHORT)}",
        f"budget {_usd(e.budget_usd)}",
        f"agents {_names(e.agents)}",
    ]
    if e.history:
        parts.append(f"after {len(e.history)} earlier messages")
    if e.streamed:
        parts.append("streamed")
    return " · ".join(parts), "bold"


def run_summary(e: RunEnd, budget_usd: float | None = None) -> Said:
    """The run's last line: how it ended, what it answered, what it spent against what."""
    if e.status == "error":
        head = f"error {clean(e.error_type or '', 40)}: {clean(e.error or '', LONG)}"
    elif e.status == "paused":
        head = "paused: waits for a person"
    else:
        head = f"ok: {_quote(first_line(e.output), LONG)}"
    parts = [
        f"end {head}",
        f"{_usd(e.cost_usd)} of {_usd(budget_usd)}",
        f"{e.model_calls} calls",
        f"{e.input_tokens} in / {e.output_tokens} out tokens",
        _secs(e.wall_s),
    ]
    style = {"ok": "bold green", "paused": "bold yellow"}.get(e.status, "bold red")
    return " · ".join(parts), style


@_formats(RunEnd)
def _run_end(e: RunEnd) -> Said:
    return run_summary(e)


@_formats(RouteEvent)
def _route_event(e: RouteEvent) -> Said:
    text = f"route by {clean(e.router, SHORT)}: {_names(e.chosen) or 'nobody'}"
    if len(e.candidates) > len(e.chosen):
        text += f" of {len(e.candidates)}"
    if e.reason:
        text += f" · {clean(e.reason, LONG)}"
    if e.scores:
        best = sorted(e.scores.items(), key=lambda kv: -kv[1])[:3]
        text += " · scores " + ", ".join(f"{clean(k, 30)} {_num(v)}" for k, v in best)
    if e.fallback:
        text += " · fallback"
    return text, "magenta"


@_formats(RoundEvent)
def _round_event(e: RoundEvent) -> Said:
    head = f"round {e.round}" + (" (last)" if e.final else "")
    if e.action == "route":
        text = f"{head}: route to {clean(e.model or '?', SHORT)} · {_quote(e.query)}"
        return text + (f" · {clean(e.effect, LONG)}" if e.effect else ""), "magenta"
    if e.action == "answer":
        return f"{head}: answer" + (f" · {_quote(e.think)}" if e.think else ""), "green"
    problem = f" ({clean(e.problem, 30)})" if e.problem else ""
    return f"{head}: format error{problem} · {clean(e.error or '', LONG)}", "red"


def _call_outcome(e: ModelCallEvent) -> str:
    if e.ok:
        finish = "" if e.finish_reason in (None, "stop") else f" ({clean(e.finish_reason)})"
        return "ok" + finish
    status = f" {e.status}" if e.status is not None else ""
    text = f"error {clean(e.error_type or 'unknown', 40)}{status}"
    return text + (f": {clean(e.error, SHORT)}" if e.error else "")


def _call_notes(e: ModelCallEvent) -> list[str]:
    notes: list[str] = []
    if e.ok or e.input_tokens or e.output_tokens:
        estimated = "" if e.usage_reported else " (estimated)"
        notes.append(f"{e.input_tokens} in / {e.output_tokens} out tokens{estimated}")
    if e.ok or e.cost_usd:
        notes.append(_usd(e.cost_usd))
    notes.append(_secs(e.latency_s))
    if e.replica is not None:
        first = f", first token {_secs(e.ttft_s)}" if e.ttft_s is not None and e.ok else ""
        notes.append(f"replica {clean(e.replica, SHORT)}{first}")
    if e.adapter is not None:
        notes.append(f"adapter {clean(e.adapter, SHORT)}")
    if e.streamed:
        notes.append("streamed")
    if e.partial is not None:
        notes.append(f"partial: broke after {len(e.partial)} chars")
    if e.continues is not None:
        notes.append(f"continues the broken answer at char {e.continues}")
    if e.confidence is not None:
        notes.append(f"confidence {_num(e.confidence)}")
    if e.retry_after_s is not None:
        notes.append(f"retry after {_secs(e.retry_after_s)}")
    if e.sent is False:
        notes.append("not sent")
    return notes


@_formats(ModelCallEvent)
def _model_call(e: ModelCallEvent) -> Said:
    what = f"call {clean(e.model, SHORT)}"
    detail = [clean(e.purpose, 20)] if e.purpose != "answer" else []
    if e.attempt > 1:
        detail.append(f"attempt {e.attempt}")
    if detail:
        what += f" ({', '.join(detail)})"
    text = " · ".join([f"{what}: {_call_outcome(e)}", *_call_notes(e)])
    return text, "cyan" if e.ok else "red"


@_formats(ReplicaPick)
def _replica_pick(e: ReplicaPick) -> Said:
    chosen = clean(e.chosen, SHORT) if e.chosen is not None else "none (every replica down)"
    text = f"replica of {clean(e.model, SHORT)} by {clean(e.policy, 20)}: {chosen}"
    if e.attempt > 1:
        text += f" (attempt {e.attempt})"
    text += f" · {clean(e.rule, 20)}: {clean(e.reason, LONG)}"
    if e.avoided:
        text += f" · avoided {_names(e.avoided)}"
    return text, "magenta" if e.chosen is not None else "red"


@_formats(AdapterPick)
def _adapter_pick(e: AdapterPick) -> Said:
    text = f"adapter of {clean(e.model, SHORT)}: {clean(e.chosen, SHORT)}"
    text += f" · {clean(e.reason, LONG)} · resident {_names(e.resident)}"
    return text, "magenta"


def _finished(what: str, ok: bool, error: str, result: str, latency_s: float) -> Said:
    """One line for something that ran: ``what: ok → result`` or ``what: error ...``."""
    if not ok:
        return f"{what}: error {error} · {_secs(latency_s)}", "red"
    return f"{what}: ok{result} · {_secs(latency_s)}", "green"


@_formats(RetryEvent)
def _retry(e: RetryEvent) -> Said:
    text = (
        f"retry {clean(e.model, SHORT)} after attempt {e.attempt} "
        f"({clean(e.error_type, 40)}) in {_secs(e.wait_s)}"
    )
    return text, "yellow"


@_formats(ToolCallEvent)
def _tool_call(e: ToolCallEvent) -> Said:
    call = f"tool {clean(e.tool, SHORT)}({_pairs(e.arguments)})"
    result = f" → {_stored(e.result)}" if e.result is not None else ""
    return _finished(call, e.ok, clean(e.error or "", LONG), result, e.latency_s)


@_formats(BudgetReserve)
def _budget_reserve(e: BudgetReserve) -> Said:
    text = (
        f"budget: reserve {_usd(e.amount_usd)} for {clean(e.model, SHORT)} "
        f"({e.max_tokens} tokens max) · spent {_usd(e.spent_usd)} of {_usd(e.limit_usd)}"
    )
    return text, "dim"


@_formats(BudgetSettle)
def _budget_settle(e: BudgetSettle) -> Said:
    text = (
        f"budget: settle {clean(e.model, SHORT)} at {_usd(e.actual_usd)} "
        f"(reserved {_usd(e.reserved_usd)}) · spent {_usd(e.spent_usd)}"
    )
    if e.overshoot_usd:
        return text + f" · overshoot {_usd(e.overshoot_usd)}", "yellow"
    return text, "dim"


@_formats(BudgetRefused)
def _budget_refused(e: BudgetRefused) -> Said:
    text = (
        f"budget: refused {clean(e.model, SHORT)}: needs {_usd(e.requested_usd)}, "
        f"{_usd(e.remaining_usd)} left"
    )
    return text, "bold red"


@_formats(ModelSwitch)
def _model_switch(e: ModelSwitch) -> Said:
    before = clean(e.from_model, SHORT) if e.from_model else "-"
    text = f"model switch ({clean(e.policy, 30)}): {before} → {clean(e.to_model, SHORT)}"
    return text + (f" · {clean(e.reason, LONG)}" if e.reason else ""), "yellow"


@_formats(Escalation)
def _escalation(e: Escalation) -> Said:
    text = f"escalation: {clean(e.reason, LONG)}"
    return text + (f" · {_pairs(e.detail)}" if e.detail else ""), "bold red"


@_formats(HandoffEvent)
def _handoff(e: HandoffEvent) -> Said:
    text = f"handoff: {clean(e.agent or '?', SHORT)} → {clean(e.to, SHORT)}"
    return text + (f" · {clean(e.reason, LONG)}" if e.reason else ""), "magenta"


def _question(question: Mapping[str, Any]) -> str:
    kind = question.get("kind")
    rest = {k: v for k, v in question.items() if k != "kind"}
    head = clean(kind, 30) if isinstance(kind, str) else "question"
    return head + (f" ({_pairs(rest)})" if rest else "")


@_formats(PauseEvent)
def _pause(e: PauseEvent) -> Said:
    return f"pause: waits for a person · {_question(e.question)}", "bold yellow"


@_formats(DecisionEvent)
def _decision(e: DecisionEvent) -> Said:
    text = f"decision: {e.decision}"
    if e.why:
        text += f" · {_quote(e.why, LONG)}"
    return text + f" · on {_question(e.question)}", "bold yellow"


@_formats(OutputCheck)
def _output_check(e: OutputCheck) -> Said:
    if e.ok:
        return f"output check {clean(e.model, SHORT)}: ok", "green"
    return f"output check {clean(e.model, SHORT)}: error {clean(e.error or '', LONG)}", "red"


def _signal(s: SignalState) -> str:
    text = f"{clean(s.monitor, 30)}: {clean(s.target, SHORT)} {clean(s.signal, 30)}"
    notes = [f"×{_num(s.multiplier)}", clean(s.action, 20)]
    if s.down:
        notes.append("down")
    if s.winner:
        notes.append("wins")
    return f"{text} ({', '.join(notes)})"


@_formats(HealthSignalEvent)
def _health_signal(e: HealthSignalEvent) -> Said:
    return f"health: {_signal(e)}", "red" if e.down else "yellow"


@_formats(HealthStateEvent)
def _health_state(e: HealthStateEvent) -> Said:
    shown = "; ".join(_signal(s) for s in e.signals[:3])
    more = f"; +{len(e.signals) - 3} more" if len(e.signals) > 3 else ""
    return f"health: {len(e.signals)} signal(s) in force: {shown}{more}", "yellow"


@_formats(ReweightEvent)
def _reweight(e: ReweightEvent) -> Said:
    shown = [
        f"{clean(a, 40)}→{clean(b, 40)} {_num(old)}→{_num(new)}" for a, b, old, new in e.changes
    ]
    return f"reweight: {_names(shown, limit=3)}", "dim"


@_formats(PathEvent)
def _path(e: PathEvent) -> Said:
    return f"path: {_route(e.path)} · cost {_num(e.cost)}", "blue"


@_formats(RerouteEvent)
def _reroute(e: RerouteEvent) -> Said:
    text = f"reroute: {clean(e.reason, LONG)} · now {_route(e.new_path)}"
    return text + f" · cost {_num(e.new_cost)}", "bold yellow"


@_formats(FanOutEvent)
def _fanout(e: FanOutEvent) -> Said:
    text = f"fan out from {clean(e.source, SHORT)} to {_names(e.branches)}"
    return text + f", joined at {clean(e.join, SHORT)}", "blue"


@_formats(NodeRunEvent)
def _node_run(e: NodeRunEvent) -> Said:
    what = f"ran {clean(e.node, SHORT)}" + (f" (attempt {e.attempt})" if e.attempt > 1 else "")
    error = f"{clean(e.error_type or 'error', 40)}: {clean(e.error or '', LONG)}"
    result = "" if e.result is None else f" → {_short(e.result)}"
    return _finished(what, e.ok, error, result, e.latency_s)


@_formats(AntStepEvent)
def _ant_step(e: AntStepEvent) -> Said:
    p = e.probabilities.get(e.chosen)
    odds = f" (p {_num(p)})" if p is not None else ""
    text = f"ant step {e.stage}: {clean(e.previous, SHORT)} → {clean(e.chosen, SHORT)}{odds}"
    return text, "blue"


@_formats(PheromoneUpdateEvent)
def _pheromone(e: PheromoneUpdateEvent) -> Said:
    gate = "passed" if e.passed_gate else "failed"
    text = (
        f"pheromone update: quality {_num(e.quality)}, cost {_num(e.cost)}, gate {gate}, "
        f"{len(e.deltas)} edge(s) moved · {_route(e.path)}"
    )
    return text, "dim"


@_formats(AgentRunEvent)
def _agent_run(e: AgentRunEvent) -> Said:
    who = f"agent program {clean(e.agent or '?', SHORT)}"
    result = f" → {_quote(first_line(e.output, SHORT))}"
    return _finished(who, e.ok, clean(e.error or "", LONG), result, e.latency_s)


@_formats(ResumeEvent)
def _resume(e: ResumeEvent) -> Said:
    text = (
        f"resume thread {clean(e.thread_id, SHORT)}"
        + (f" from checkpoint {clean(e.checkpoint_id, 40)}" if e.checkpoint_id else "")
        + f" · {e.done_steps} steps done, {e.model_calls} calls, {_usd(e.spent_usd)} spent"
    )
    return text + (f" · next {_names(e.next_nodes)}" if e.next_nodes else ""), "bold"


@_formats(TaskRetryEvent)
def _task_retry(e: TaskRetryEvent) -> Said:
    text = (
        f"task retry: {clean(e.task_id, SHORT)} attempt {e.attempt} · "
        f"{_usd(e.charged_before_usd)} charged before"
    )
    return text, "yellow"


def describe(event: EventBase) -> Said:
    """One line about ``event`` and its style; a kind without a formatter shows its fields."""
    kind = str(getattr(event, "kind", "event"))
    fn = FORMATS.get(kind)
    if fn is not None:
        text, style = fn(event)
    else:
        data = event.model_dump(mode="json") if isinstance(event, BaseModel) else {}
        rest = {k: v for k, v in data.items() if k not in _BASE_FIELDS}
        text, style = f"{clean(kind, 40)}: {_pairs(rest, limit=6)}", ""
    return clean(text, MAX_LINE), style


# -- the tree ----------------------------------------------------------------------------------
Key = tuple[str, int]


def _key(e: EventBase) -> Key:
    return (e.run_id, e.seq)


def _anchors(
    events: Sequence[EventBase], kept: Sequence[EventBase]
) -> dict[Key, Key | None]:  # fmt: skip
    """For each kept event, the kept event it is drawn under: its nearest kept ancestor by
    ``parent``, else its run's kept ``run_start`` (order), else none (a root)."""
    by_key = {_key(e): e for e in events}
    shown = {_key(e) for e in kept}
    starts = {e.run_id: _key(e) for e in kept if isinstance(e, RunStart)}
    out: dict[Key, Key | None] = {}
    for e in kept:
        anchor: Key | None = None
        at: EventBase | None = e
        while at is not None and at.parent is not None and at.parent < at.seq:
            up = (e.run_id, at.parent)
            if up in shown:
                anchor = up
                break
            at = by_key.get(up)
        if anchor is None and not isinstance(e, (RunStart, RunEnd)):
            anchor = starts.get(e.run_id)
        out[_key(e)] = anchor
    return out


def _gathers(node: str | None, parent_node: str | None) -> bool:
    """Whether events about ``node`` are gathered under a line naming it."""
    return node is not None and not node.startswith("^") and node != parent_node


Item = Line | tuple[EventBase, int]


def _children(
    kids: Sequence[EventBase], depth: int, parent_node: str | None
) -> list[Item]:  # fmt: skip
    """What is drawn under one parent: its events in order, each run of consecutive events
    about one graph node under a line naming the node."""
    items: list[Item] = []
    group: str | None = None
    here, below = min(depth, MAX_DEPTH), min(depth + 1, MAX_DEPTH)
    for e in kids:
        node = e.node
        if node is None or not _gathers(node, parent_node):
            group = None
            items.append((e, here))
            continue
        if node != group:
            group = node
            items.append(Line(here, f"node {clean(node, SHORT)}", "bold blue", "node"))
        items.append((e, below))
    return items


UNFINISHED = "end: none recorded (the run stopped before it finished, or is still going)"


def _roots(kids: Sequence[EventBase], ended: Collection[str]) -> list[Item]:
    """The top of the outline, with a line after each run that has no ``run_end``."""
    items: list[Item] = []
    for item in _children(kids, 0, None):
        items.append(item)
        start = item[0] if isinstance(item, tuple) else None
        if isinstance(start, RunStart) and start.run_id not in ended:
            items.append(Line(0, UNFINISHED, "bold red", "run_end"))
    return items


def outline(events: Iterable[EventBase], kinds: Collection[str] | None = None) -> list[Line]:
    """The outline of a trace: a line per event (only ``kinds``, when given), nested under the
    event it happened under, and each run's ``run_end`` as its summary line."""
    every = list(events)
    kept = [e for e in every if not kinds or getattr(e, "kind", None) in kinds]
    anchors = _anchors(every, kept)
    under: dict[Key | None, list[EventBase]] = {}
    for e in kept:
        under.setdefault(anchors[_key(e)], []).append(e)
    budgets = {e.run_id: e.budget_usd for e in every if isinstance(e, RunStart)}
    ended = {e.run_id for e in every if isinstance(e, RunEnd)}
    lines: list[Line] = []
    stack: list[Item] = list(reversed(_roots(under.get(None, []), ended)))
    while stack:
        item = stack.pop()
        if isinstance(item, Line):
            lines.append(item)
            continue
        e, depth = item
        if isinstance(e, RunEnd):
            text, style = run_summary(e, budgets.get(e.run_id))
            text = clean(text, MAX_LINE)
        else:
            text, style = describe(e)
        lines.append(Line(depth, text, style, str(getattr(e, "kind", "")), e.seq))
        stack += reversed(_children(under.get(_key(e), []), depth + 1, e.node))
    return lines


def json_line(record: Mapping[str, Any]) -> str:
    """``record`` as one line of JSON (as a sink writes it), with every character a terminal
    could act on written as a ``\\u`` escape: the same JSON, safe to print."""
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)
    return "".join(
        f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _HIDDEN else ch for ch in text
    )
