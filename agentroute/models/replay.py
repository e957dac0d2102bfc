"""Serve recorded model responses: replay a trace with zero model calls.

Every ``model_call`` event holds the request's hash and either the whole completion or the
error. `Recording` indexes them by (model, request hash) in order; a `ReplayEndpoint` hands
them back, raising the recorded error again for a failed attempt. A request that was never
recorded raises `ReplayMissError`: the run has diverged from the trace.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable

from agentroute import errors
from agentroute.errors import ModelError, RunError
from agentroute.events import ModelCallEvent
from agentroute.models.endpoint import ModelEndpoint
from agentroute.types import Completion, Delta, ModelRequest


def request_hash(label: str, request: ModelRequest) -> str:
    """Stable key of a request: the model's label and the whole request body (fields added
    since traces were first recorded count only when set, so older traces still replay)."""
    data = request.model_dump(mode="json")
    for key in _NEWER:
        if not data[key]:
            del data[key]
    body = json.dumps([label, data], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


_NEWER = ("prefill", "json_schema")


class ReplayMissError(RunError):
    """The replayed run asked for something the trace never recorded."""

    def __init__(self, label: str, key: str) -> None:
        super().__init__(f"{label}: request {key} is not in the recording (the run diverged)")
        self.label = label
        self.key = key


class Recording:
    def __init__(self, calls: Iterable[ModelCallEvent]) -> None:
        self._calls: dict[tuple[str, str], deque[ModelCallEvent]] = defaultdict(deque)
        for c in calls:
            if c.request_hash is not None:
                self._calls[(c.model, c.request_hash)].append(c)

    def next(self, label: str, key: str) -> ModelCallEvent:
        queue = self._calls.get((label, key))
        if not queue:
            raise ReplayMissError(label, key)
        return queue.popleft()


class ReplayEndpoint:
    """Answers from a `Recording`; never opens a connection unless given a ``live`` endpoint
    for requests the recording lacks (what-if replays)."""

    def __init__(
        self,
        recording: Recording,
        label: str,
        provider: str,
        model: str,
        live: ModelEndpoint | None = None,
    ) -> None:
        self._recording = recording
        self._label = label
        self._live = live
        self.provider = provider
        self.model = model
        self.live_calls = 0

    async def complete(self, request: ModelRequest, *, timeout_s: float) -> Completion:
        try:
            call = self._recording.next(self._label, request_hash(self._label, request))
        except ReplayMissError:
            if self._live is None:
                raise
            self.live_calls += 1
            return await self._live.complete(request, timeout_s=timeout_s)
        if call.ok and call.response is not None:
            return Completion.model_validate(call.response)
        raise self._error(call)

    async def stream(
        self, request: ModelRequest, *, timeout_s: float
    ) -> AsyncIterator[Delta | Completion]:
        """A recorded streamed attempt again: its text, or the part that arrived before it
        broke and then its error (a what-if request the recording lacks is answered whole)."""
        key = request_hash(self._label, request)
        try:
            call = self._recording.next(self._label, key)
        except ReplayMissError:
            if self._live is None:
                raise
            self.live_calls += 1
            completion = await self._live.complete(request, timeout_s=timeout_s)
            yield Delta(completion.text)
            yield completion
            return
        if call.ok and call.response is not None:
            completion = Completion.model_validate(call.response)
            if completion.text:
                yield Delta(completion.text)
            yield completion
            return
        if call.partial:
            yield Delta(call.partial)
        raise self._error(call)

    @staticmethod
    def _error(call: ModelCallEvent) -> Exception:
        """The recorded failure, raised again as its own type where it is a model error."""
        cls = getattr(errors, call.error_type or "", None)
        if isinstance(cls, type) and issubclass(cls, ModelError):
            return cls(
                call.error or "",
                provider=call.provider,
                model=call.model,
                status=call.status,
                retry_after_s=call.retry_after_s,
                sent=call.sent is not False,
            )
        return RunError(f"recorded failure {call.error_type}: {call.error}")

    async def aclose(self) -> None:
        if self._live is not None:
            await self._live.aclose()
