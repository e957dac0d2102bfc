"""Agent drift: an agent stability index (ASI) per agent, over sliding windows of its work.

After the idea of the agent stability index in "Agent Drift" (arXiv 2601.04170); the
components, their formulas and the defaults here are this module's own. Each closed
`Interaction` (one agent's part in one run: what it answered, the tools it called, what went
wrong around it) is read from the run's trace, which monitors see as ``HealthContext.events``.
The first ``baseline`` interactions of an agent are its reference (`Baseline`); after that,
every ``stride`` interactions the last ``window`` are scored against it by `stability_index`,
a pure function, into four components in [0, 1] (1: behaves like its baseline):

- response consistency (weight 0.35): how similar each answer is to the agent's own baseline
  answers for the most comparable tasks (character 3-gram Jaccard, or cosine of an embedding
  function), relative to how similar its baseline answers are to each other;
- tool-use stability (weight 0.25): 1 minus the Jensen-Shannon divergence (base 2) between the
  tools called in the window and in the baseline (an interaction with no tool call counts as
  the pseudo-tool ``(none)``);
- coordination (weight 0.15): 1 minus how much more often than in the baseline its work was
  handed off, rerouted or failed over away from it, or its answer failed the agent's output
  type (role adherence, where the agent declares one);
- behavioural bounds (weight 0.25): the mean of three shares: answers whose length lies within
  the baseline's bounds (log length, mean +- 3 standard deviations), interactions without an
  error type the baseline never had, and 1 minus the excess rate of human interventions
  (pauses and decisions) over the baseline's.

The index is the weighted mean of the components (`DriftWeights`, overridable). `next_alarm`
(pure) raises the alarm once the index stays below ``threshold`` for ``patience`` windows in a
row and clears it after ``recover`` windows at or above it. While the alarm holds, the monitor
publishes a ``drift`` signal on the agent: its edges weigh ``penalty`` times more (or infinity
with ``down=True``), so the engine routes to another agent where the graph has one, with no
LLM call, and the signal is in the trace (``health_signal``).
"""

from __future__ import annotations

import functools
import math
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentroute.errors import ConfigError
from agentroute.events import (
    AgentRunEvent,
    DecisionEvent,
    HandoffEvent,
    ModelCallEvent,
    ModelSwitch,
    OutputCheck,
    PauseEvent,
    RerouteEvent,
    ToolCallEvent,
    TraceEvent,
)
from agentroute.health.monitor import EventCursor, HealthContext
from agentroute.types import HealthSignal

NO_TOOL = "(none)"
"""The pseudo-tool of an interaction that called no tool."""
Similarity = Callable[[str, str], float]
"""How alike two texts are, in [0, 1]."""


@dataclass(frozen=True)
class Interaction:
    """One agent's part in one run, as the trace shows it."""

    agent: str
    task: str = ""
    answer: str | None = None
    """The agent's last answer (None: it handed the work on, or was routed away, first)."""
    tools: tuple[str, ...] = ()
    """The tools it called, in order."""
    errors: tuple[str, ...] = ()
    """Error types of its failed model calls, tool calls and programs."""
    handoffs: int = 0
    failovers: int = 0
    """Its model failed and the turn went on on its next model."""
    rerouted: bool = False
    """A reroute took the path away from it."""
    off_role: int = 0
    """Answers that did not match the agent's output type."""
    interventions: int = 0
    """Pauses for a person, and people's decisions, about its work."""


@dataclass(frozen=True)
class DriftWeights:
    """How much each component counts in the index (normalised to sum 1)."""

    consistency: float = 0.35
    tools: float = 0.25
    coordination: float = 0.15
    bounds: float = 0.25

    def __post_init__(self) -> None:
        parts = (self.consistency, self.tools, self.coordination, self.bounds)
        if any(not (w >= 0 and math.isfinite(w)) for w in parts) or sum(parts) <= 0:
            raise ConfigError(f"drift weights must be finite, >= 0 and not all 0: {self}")


@dataclass(frozen=True)
class StabilityIndex:
    """One window's index and its components, each in [0, 1] (1: like the baseline)."""

    asi: float
    consistency: float
    tools: float
    coordination: float
    bounds: float

    def detail(self) -> dict[str, float | str]:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


# -- similarity --------------------------------------------------------------------------------
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=4096)
def char_ngrams(text: str, n: int = 3) -> frozenset[str]:
    """The text's character n-grams (lowercased, runs of whitespace as one space)."""
    t = f" {_SPACE.sub(' ', text.lower()).strip()} "
    return frozenset(t[i : i + n] for i in range(max(1, len(t) - n + 1)))


@functools.lru_cache(maxsize=4096)
def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def ngram_similarity(a: str, b: str) -> float:
    """Character 3-gram Jaccard similarity: cheap, no dependency, in [0, 1]."""
    return jaccard(char_ngrams(a), char_ngrams(b))


def task_similarity(a: str, b: str) -> float:
    """Word-set Jaccard similarity of two tasks."""
    return jaccard(_words(a), _words(b))


def embedding_similarity(embed: Callable[[str], Sequence[float]], cache: int = 4096) -> Similarity:
    """Cosine similarity (below 0 as 0) of ``embed``'s vectors; each text is embedded once
    while it stays among the last ``cache`` texts."""
    vectors: OrderedDict[str, tuple[float, ...]] = OrderedDict()

    def vector(text: str) -> tuple[float, ...]:
        v = vectors.pop(text, None)
        if v is None:
            v = tuple(float(x) for x in embed(text))
        vectors[text] = v
        if len(vectors) > cache:
            vectors.popitem(last=False)
        return v

    def similarity(a: str, b: str) -> float:
        x, y = vector(a), vector(b)
        nx, ny = math.sqrt(sum(u * u for u in x)), math.sqrt(sum(u * u for u in y))
        if nx == 0 or ny == 0:
            return 1.0 if nx == ny else 0.0
        return max(0.0, min(1.0, sum(u * w for u, w in zip(x, y, strict=True)) / (nx * ny)))

    return similarity


# -- the baseline and the components (pure) ----------------------------------------------------
@dataclass(frozen=True)
class Baseline:
    """An agent's reference behaviour, from its first interactions (`baseline_of`)."""

    interactions: tuple[Interaction, ...]
    self_consistency: float
    """How similar its baseline answers are to each other (by `_match`): the scale of the
    consistency component."""
    tools: Mapping[str, float]
    coordination_rate: float
    intervention_rate: float
    errors: frozenset[str]
    log_length: tuple[float, float]
    """Mean and standard deviation of log(1 + answer length)."""


def _match(item: Interaction, refs: Sequence[Interaction], similarity: Similarity, k: int) -> float:
    """``item``'s answer against the answers of the ``k`` references with the most similar
    tasks: the best similarity among them."""
    assert item.answer is not None
    ranked = sorted(refs, key=lambda r: task_similarity(item.task, r.task), reverse=True)[:k]
    return max(similarity(item.answer, r.answer or "") for r in ranked)


def _tools(items: Iterable[Interaction]) -> dict[str, float]:
    counts: dict[str, float] = {}
    for i in items:
        for t in i.tools or (NO_TOOL,):
            counts[t] = counts.get(t, 0.0) + 1.0
    total = sum(counts.values())
    return {t: c / total for t, c in counts.items()} if total else {}


def _coordinating(i: Interaction) -> bool:
    return bool(i.handoffs or i.failovers or i.rerouted or i.off_role)


def _rate(items: Sequence[Interaction], flag: Callable[[Interaction], bool]) -> float:
    return sum(map(flag, items)) / len(items) if items else 0.0


def _log_len(text: str) -> float:
    return math.log1p(len(text))


def baseline_of(
    interactions: Sequence[Interaction], similarity: Similarity = ngram_similarity, k: int = 3
) -> Baseline:
    """The reference an agent's windows are scored against."""
    items = tuple(interactions)
    answered = [i for i in items if i.answer is not None]
    if len(answered) > 1:
        scores = [_match(a, [b for b in answered if b is not a], similarity, k) for a in answered]
        self_consistency = sum(scores) / len(scores)
    else:
        self_consistency = 1.0
    lengths = [_log_len(i.answer) for i in answered if i.answer is not None]
    mean = sum(lengths) / len(lengths) if lengths else 0.0
    std = math.sqrt(sum((x - mean) ** 2 for x in lengths) / len(lengths)) if lengths else 0.0
    return Baseline(
        interactions=items,
        self_consistency=self_consistency,
        tools=_tools(items),
        coordination_rate=_rate(items, _coordinating),
        intervention_rate=_rate(items, lambda i: i.interventions > 0),
        errors=frozenset(e for i in items for e in i.errors),
        log_length=(mean, std),
    )


def response_consistency(
    window: Sequence[Interaction],
    baseline: Baseline,
    similarity: Similarity = ngram_similarity,
    k: int = 3,
) -> float:
    """Mean similarity of the window's answers to the baseline answers for the most
    comparable tasks, over the baseline's own (1 when either has no answer)."""
    refs = [b for b in baseline.interactions if b.answer is not None]
    answered = [i for i in window if i.answer is not None]
    if not refs or not answered:
        return 1.0
    raw = sum(_match(i, refs, similarity, k) for i in answered) / len(answered)
    scale = baseline.self_consistency
    return 1.0 if scale <= 0 else min(1.0, raw / scale)


def tool_stability(window: Sequence[Interaction], baseline: Baseline) -> float:
    """1 minus the Jensen-Shannon divergence (base 2) of the window's tool distribution from
    the baseline's."""
    p, q = _tools(window), dict(baseline.tools)
    if not p or not q:
        return 1.0
    jsd = 0.0
    for t in p.keys() | q.keys():
        a, b = p.get(t, 0.0), q.get(t, 0.0)
        m = (a + b) / 2
        jsd += (a * math.log2(a / m) if a else 0.0) + (b * math.log2(b / m) if b else 0.0)
    return max(0.0, min(1.0, round(1.0 - jsd / 2, 12)))


def coordination(window: Sequence[Interaction], baseline: Baseline) -> float:
    """1 minus the excess (over the baseline's) of the share of interactions handed off,
    rerouted or failed over away from the agent, or with an answer off its output type."""
    if not window:
        return 1.0
    return max(0.0, 1.0 - max(0.0, _rate(window, _coordinating) - baseline.coordination_rate))


def behavioural_bounds(window: Sequence[Interaction], baseline: Baseline) -> float:
    """Mean of: the share of answers whose log length lies within the baseline's mean +- 3
    standard deviations (at least +- log 2); the share of interactions without an error type
    new to the baseline; 1 minus the excess rate of human interventions."""
    if not window:
        return 1.0
    mean, std = baseline.log_length
    reach = max(3 * std, math.log(2))
    lengths = [_log_len(i.answer) for i in window if i.answer is not None]
    if lengths and any(b.answer is not None for b in baseline.interactions):
        inside = sum(abs(x - mean) <= reach for x in lengths) / len(lengths)
    else:
        inside = 1.0
    known = _rate(window, lambda i: not set(i.errors) - baseline.errors)
    humans = _rate(window, lambda i: i.interventions > 0) - baseline.intervention_rate
    return (inside + known + max(0.0, 1.0 - max(0.0, humans))) / 3


def stability_index(
    window: Sequence[Interaction],
    baseline: Baseline,
    weights: DriftWeights = DriftWeights(),
    similarity: Similarity = ngram_similarity,
    k: int = 3,
) -> StabilityIndex:
    """The window's agent stability index: the weighted mean of its components."""
    parts = {
        "consistency": response_consistency(window, baseline, similarity, k),
        "tools": tool_stability(window, baseline),
        "coordination": coordination(window, baseline),
        "bounds": behavioural_bounds(window, baseline),
    }
    w = {name: getattr(weights, name) for name in parts}
    asi = sum(parts[n] * w[n] for n in parts) / sum(w.values())
    return StabilityIndex(asi=asi, **parts)


@dataclass(frozen=True)
class AlarmState:
    low: int = 0
    """Windows in a row below the threshold."""
    high: int = 0
    """Windows in a row at or above it while the alarm holds."""
    alarmed: bool = False


def next_alarm(
    state: AlarmState, asi: float, *, threshold: float, patience: int, recover: int
) -> AlarmState:
    """The alarm after one more window: raised after ``patience`` low windows in a row,
    cleared after ``recover`` windows in a row at or above ``threshold``."""
    if asi < threshold:
        low = state.low + 1
        return AlarmState(low, 0, state.alarmed or low >= patience)
    if state.alarmed and state.high + 1 < recover:
        return AlarmState(0, state.high + 1, True)
    return AlarmState()


# -- reading interactions from the trace -------------------------------------------------------
@dataclass
class _Open:
    """An interaction being read from a run's trace."""

    item: Interaction
    answered: bool = False
    """The last answer stands (no failed output check after it): the interaction is over
    once the events the monitor has been handed are read."""


def _question_agent(question: Mapping[str, Any]) -> str | None:
    agent = question.get("agent")
    return agent if isinstance(agent, str) else None


# -- the monitor -------------------------------------------------------------------------------
@dataclass
class _Track:
    baseline: list[Interaction] = field(default_factory=list)
    reference: Baseline | None = None
    window: deque[Interaction] = field(default_factory=deque)
    since: int = 0
    alarm: AlarmState = AlarmState()
    last: StabilityIndex | None = None
    windows: int = 0


class DriftMonitor:
    """Agent drift from the trace: an agent stability index per agent (see the module's
    docstring for its components and weights) and an alarm on the agent when it stays low.

    ``baseline`` interactions make an agent's reference; then every ``stride`` interactions
    the last ``window`` are scored. The alarm rises after ``patience`` windows in a row below
    ``threshold`` and clears after ``recover`` windows at or above it (or `reset`). While it
    holds: a ``drift`` signal on the agent, edges times ``penalty`` (infinity with ``down``),
    at ``priority``. ``embed`` (text -> vector) replaces the 3-gram answer similarity with
    cosine similarity. ``agents`` limits the watch to those agents (default: every agent seen).
    An agent routed away from gets no new interactions: its alarm holds until it gets work
    again (another route, a run where it is the only way) or `reset` is called.
    """

    def __init__(
        self,
        *,
        window: int = 10,
        stride: int = 5,
        baseline: int = 20,
        threshold: float = 0.75,
        patience: int = 3,
        recover: int = 2,
        weights: DriftWeights | None = None,
        penalty: float = 10.0,
        down: bool = False,
        priority: float = 0.5,
        comparable: int = 3,
        embed: Callable[[str], Sequence[float]] | None = None,
        agents: Iterable[str] | None = None,
        name: str = "drift",
    ) -> None:
        if min(window, stride, baseline, patience, recover, comparable) < 1:
            raise ConfigError(
                "window, stride, baseline, patience, recover and comparable must be >= 1"
            )
        if not 0 < threshold <= 1 or not penalty >= 1 or not 0 <= priority <= 1:
            raise ConfigError(
                f"need 0 < threshold <= 1, penalty >= 1 and 0 <= priority <= 1; got "
                f"{threshold}, {penalty}, {priority}"
            )
        self.name = name
        self.window, self.stride, self.baseline = window, stride, baseline
        self.threshold, self.patience, self.recover = threshold, patience, recover
        self.weights = weights or DriftWeights()
        self.penalty, self.down, self.priority = penalty, down, priority
        self.comparable = comparable
        self.similarity: Similarity = (
            ngram_similarity if embed is None else embedding_similarity(embed)
        )
        self.agents = None if agents is None else frozenset(agents)
        self._tracks: dict[str, _Track] = {}
        self._open: OrderedDict[tuple[str, str], _Open] = OrderedDict()
        self._cursor = EventCursor()
        self._signals: dict[str, HealthSignal] = {}
        self._answer: tuple[HealthSignal, ...] = ()

    # -- what it knows ---------------------------------------------------------------------
    def index(self, agent: str) -> StabilityIndex | None:
        """The agent's last window's index (None before its first window)."""
        t = self._tracks.get(agent)
        return t.last if t else None

    def alarmed(self, agent: str) -> bool:
        t = self._tracks.get(agent)
        return bool(t and t.alarm.alarmed)

    def reset(self, agent: str) -> None:
        """Forget the agent: its alarm clears and its next interactions make a new baseline
        (after a change of its prompt or model that was meant)."""
        self._tracks.pop(agent, None)
        if self._signals.pop(agent, None) is not None:
            self._answer = tuple(self._signals.values())

    # -- the windows -----------------------------------------------------------------------
    def record(self, item: Interaction) -> StabilityIndex | None:
        """Take one closed interaction; the window's index when this one completes a window."""
        t = self._tracks.setdefault(item.agent, _Track())
        if t.reference is None:
            t.baseline.append(item)
            if len(t.baseline) >= self.baseline:
                t.reference = baseline_of(t.baseline, self.similarity, self.comparable)
                t.baseline = []
            return None
        t.window.append(item)
        if len(t.window) > self.window:
            t.window.popleft()
        t.since += 1
        if len(t.window) < self.window or t.since < self.stride:
            return None
        t.since = 0
        t.windows += 1
        index = stability_index(
            tuple(t.window), t.reference, self.weights, self.similarity, self.comparable
        )
        was = t.alarm.alarmed
        t.last = index
        t.alarm = next_alarm(
            t.alarm, index.asi, threshold=self.threshold, patience=self.patience,
            recover=self.recover,
        )  # fmt: skip
        if t.alarm.alarmed and not was:
            self._signals[item.agent] = self._signal(item.agent, index, t)
            self._answer = tuple(self._signals.values())
        elif was and not t.alarm.alarmed:
            del self._signals[item.agent]
            self._answer = tuple(self._signals.values())
        return index

    def _signal(self, agent: str, index: StabilityIndex, t: _Track) -> HealthSignal:
        detail = index.detail()
        detail.update(threshold=self.threshold, low_windows=t.alarm.low, window=t.windows)
        return HealthSignal(
            monitor=self.name, target=agent, kind="drift", priority=self.priority,
            multiplier=1.0 if self.down else self.penalty, down=self.down, detail=detail,
        )  # fmt: skip

    # -- the trace -------------------------------------------------------------------------
    async def check(self, ctx: HealthContext) -> Sequence[HealthSignal]:
        events = self._cursor.new(ctx)
        if events:
            for item in self.observe(ctx.run, ctx.task, events):
                self.record(item)
        return self._answer

    def observe(self, run: str, task: str, events: Sequence[TraceEvent]) -> list[Interaction]:
        """Read a run's new trace events; the interactions they close, in order."""
        closed: list[Interaction] = []
        for e in events:
            self._read(run, task, e, closed)
        for key in [k for k, o in self._open.items() if k[0] == run and o.answered]:
            closed.append(self._open.pop(key).item)
        return closed

    def _opened(self, run: str, task: str, agent: str | None) -> _Open | None:
        if agent is None or (self.agents is not None and agent not in self.agents):
            return None
        key = (run, agent)
        o = self._open.get(key)
        if o is None:
            o = self._open[key] = _Open(Interaction(agent, task))
            if len(self._open) > 4096:  # runs that ended mid-interaction are forgotten
                self._open.popitem(last=False)
        return o

    def _read(self, run: str, task: str, e: TraceEvent, closed: list[Interaction]) -> None:
        if isinstance(e, ModelCallEvent):
            if e.purpose != "answer" or (o := self._opened(run, task, e.agent)) is None:
                return
            if not e.ok:
                o.item = replace(o.item, errors=(*o.item.errors, e.error_type or "error"))
            elif e.response is not None and not e.response.get("tool_calls"):
                o.item, o.answered = replace(o.item, answer=str(e.response.get("text", ""))), True
        elif isinstance(e, AgentRunEvent):
            if (o := self._opened(run, task, e.agent)) is None:
                return
            if e.ok:
                o.item, o.answered = replace(o.item, answer=e.output or ""), True
            else:
                kind = (e.error or "error").split(":", 1)[0]
                o.item, o.answered = replace(o.item, errors=(*o.item.errors, kind)), True
        elif isinstance(e, ToolCallEvent):
            if (o := self._opened(run, task, e.agent)) is not None:
                errors = o.item.errors if e.ok else (*o.item.errors, "ToolError")
                o.item = replace(o.item, tools=(*o.item.tools, e.tool), errors=errors)
        elif isinstance(e, OutputCheck):
            if not e.ok and (o := self._opened(run, task, e.agent)) is not None:
                o.item, o.answered = replace(o.item, off_role=o.item.off_role + 1), False
        elif isinstance(e, ModelSwitch):
            if e.policy == "failover" and (o := self._opened(run, task, e.agent)) is not None:
                o.item = replace(o.item, failovers=o.item.failovers + 1)
        elif isinstance(e, HandoffEvent):
            if (o := self._opened(run, task, e.agent)) is not None:
                closed.append(replace(o.item, handoffs=o.item.handoffs + 1))
                del self._open[(run, o.item.agent)]
        elif isinstance(e, RerouteEvent):
            for key in [k for k in self._open if k[0] == run]:
                agent = key[1]
                was = any(n == agent or n.startswith(f"{agent}@") for n in e.old_path)
                now = any(n == agent or n.startswith(f"{agent}@") for n in e.new_path)
                if was and not now:
                    closed.append(replace(self._open.pop(key).item, rerouted=True))
        elif isinstance(e, PauseEvent | DecisionEvent):
            o = self._opened(run, task, _question_agent(e.question) or e.agent)
            if o is not None:
                o.item = replace(o.item, interventions=o.item.interventions + 1)
