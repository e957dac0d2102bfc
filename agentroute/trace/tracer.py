"""The emitter every part of a run writes decisions through, and the `Trace` it yields."""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from agentroute.errors import TraceError
from agentroute.events import EVENT_ADAPTER, SCHEMA_VERSION, EventBase, TraceEvent
from agentroute.trace.chain import MAX_TRACE_BYTES, SEAL, checked_path
from agentroute.trace.redact import Redactor
from agentroute.trace.sinks import JsonlSink, Sink

E = TypeVar("E", bound=EventBase)

_SCOPE: contextvars.ContextVar[tuple[Tracer, int] | None] = contextvars.ContextVar(
    "agentroute_trace_scope", default=None
)
_NODE: contextvars.ContextVar[tuple[Tracer, str] | None] = contextvars.ContextVar(
    "agentroute_trace_node", default=None
)
MAX_LINE_BYTES = 16 * 1024 * 1024
UPGRADE_HINT = "convert it with `agentroute trace upgrade FILE`"


class Trace(Sequence[TraceEvent]):
    """An ordered, immutable list of trace events with save/load."""

    def __init__(self, events: Iterable[TraceEvent]) -> None:
        self._events: tuple[TraceEvent, ...] = tuple(events)

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, i: Any) -> Any:
        return self._events[i]

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self._events)

    def of_kind(self, kind: str) -> list[TraceEvent]:
        return [e for e in self._events if e.kind == kind]

    def events(self, cls: type[E]) -> list[E]:
        """The events of one type, typed (``trace.events(ModelCallEvent)``)."""
        return [e for e in self._events if isinstance(e, cls)]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write (replace) ``path`` as JSON Lines, one event per line."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        if tmp.exists():
            tmp.unlink()
        sink = JsonlSink(tmp)
        try:
            for e in self._events:
                sink.write(e.record())
        finally:
            sink.close()
        os.replace(tmp, target)
        return target

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, max_bytes: int = MAX_TRACE_BYTES,
        upgrade: bool = False,
    ) -> Trace:  # fmt: skip
        """Parse a JSONL trace. Only data is read: no code runs, oversized or malformed input
        raises `TraceError` naming the line. An older schema is refused with the way to
        convert it; ``upgrade=True`` converts it on the fly."""
        p = checked_path(path, max_bytes)
        events: list[TraceEvent] = []
        with p.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if len(raw) > MAX_LINE_BYTES:
                    raise TraceError(f"{p}:{number}: line longer than {MAX_LINE_BYTES} bytes")
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                    if isinstance(record, dict):
                        record.pop("prev", None)
                        if record.get("kind") == SEAL:
                            continue
                        _check_version(record, f"{p}:{number}", upgrade)
                    events.append(EVENT_ADAPTER.validate_python(record))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(x) for x in first.get("loc", ()))
                    raise TraceError(
                        f"{p}:{number}: not a trace event ({where}: {first['msg']})"
                    ) from exc
                except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                    raise TraceError(f"{p}:{number}: not JSON (or nested too deep)") from exc
        return cls(events)


def _check_version(record: dict[str, Any], where: str, upgrade: bool) -> None:
    v = record.get("v")
    if v == 1 and upgrade:  # v2 added the optional ``node``: nothing else to convert
        record["v"] = SCHEMA_VERSION
        return
    if v != SCHEMA_VERSION and isinstance(v, int):
        raise TraceError(
            f"{where}: trace schema v{v}; this agentroute reads v{SCHEMA_VERSION}: "
            + (UPGRADE_HINT if v < SCHEMA_VERSION else "use a newer agentroute")
        )


_REPLAYING: contextvars.ContextVar[bool] = contextvars.ContextVar("replaying", default=False)


@contextlib.contextmanager
def replaying() -> Iterator[None]:
    """Tracers made inside belong to replays (``Tracer.replay``): a watcher can tell them
    from live runs."""
    token = _REPLAYING.set(True)
    try:
        yield
    finally:
        _REPLAYING.reset(token)


Watcher = Callable[["Tracer", dict[str, Any]], None]
_WATCHERS: list[Watcher] = []


@contextlib.contextmanager
def watch(watcher: Watcher) -> Iterator[None]:
    """Call ``watcher(tracer, record)`` for every event that any tracer in this process emits
    while inside (after redaction, like a sink). `agentroute run` draws its progress and
    summary with it; a program needs no change to be watched."""
    _WATCHERS.append(watcher)
    try:
        yield
    finally:
        _WATCHERS.remove(watcher)


class Tracer:
    """Builds events with run id, sequence number and timestamp, redacts them, fans them out.

    The clock is injectable so tests and replays are deterministic.
    """

    def __init__(
        self,
        *,
        run_id: str | None = None,
        sinks: Sequence[Sink] = (),
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.run_id = run_id or uuid.uuid4().hex[:16]
        self.sinks = list(sinks)
        self.redactor = redactor or Redactor()
        self._clock = clock
        self._events: list[TraceEvent] = []
        self.replay = _REPLAYING.get()
        self.listeners: list[Callable[[TraceEvent], None]] = []
        """Called with every event as it is emitted (a streamed run's consumer)."""

    def emit(self, cls: type[E], **fields: Any) -> E:
        scope = _SCOPE.get()
        if scope is not None and scope[0] is self and "parent" not in fields:
            fields["parent"] = scope[1]
        at = _NODE.get()
        if at is not None and at[0] is self and "node" not in fields:
            fields["node"] = at[1]
        event = cls(run_id=self.run_id, seq=len(self._events), ts=self._clock(), **fields)
        text = event.model_dump_json()
        record: dict[str, Any] | None = None
        if self.redactor.may_touch(text):
            record = json.loads(text)
            redacted = self.redactor(record)
            if redacted is not record:
                record = redacted
                event = cls.model_validate(record)
        self._events.append(event)  # type: ignore[arg-type]
        for listener in self.listeners:
            listener(event)  # type: ignore[arg-type]
        if self.sinks or _WATCHERS:  # the dict form only when someone reads it
            if record is None:
                record = json.loads(text)
            for sink in self.sinks:
                sink.write(record)
            for watcher in _WATCHERS:
                watcher(self, record)
        return event

    @contextlib.contextmanager
    def scope(self, event: EventBase) -> Iterator[None]:
        """Events emitted inside (in this task and the tasks it starts) have ``event`` as
        their parent, so a run's events form a tree."""
        token = _SCOPE.set((self, event.seq))
        try:
            yield
        finally:
            _SCOPE.reset(token)

    def enter(self, scope: int | None, node: str) -> tuple[Any, Any]:
        """`scope_at` and `at` together, without a context manager (the engine's hot path);
        hand what it returns to `leave`."""
        return (
            None if scope is None else _SCOPE.set((self, scope)),
            _NODE.set((self, node)),
        )

    @staticmethod
    def leave(tokens: tuple[Any, Any]) -> None:
        _NODE.reset(tokens[1])
        if tokens[0] is not None:
            _SCOPE.reset(tokens[0])

    @contextlib.contextmanager
    def at(self, node: str) -> Iterator[None]:
        """Events emitted inside are about graph node ``node`` (unless they say otherwise)."""
        token = _NODE.set((self, node))
        try:
            yield
        finally:
            _NODE.reset(token)

    @contextlib.contextmanager
    def scope_at(self, seq: int | None) -> Iterator[None]:
        """As `scope`, by the parent's sequence number (None: no scope of its own)."""
        if seq is None:
            yield
            return
        token = _SCOPE.set((self, seq))
        try:
            yield
        finally:
            _SCOPE.reset(token)

    @property
    def trace(self) -> Trace:
        return Trace(self._events)

    @property
    def events(self) -> Sequence[TraceEvent]:
        """The events emitted so far: the tracer's own list, not a copy (read it only)."""
        return self._events

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
