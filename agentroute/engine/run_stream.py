"""A run as a stream: what happens, as it happens.

`RunStream` drives one engine run (the same `Session.run` every run goes through) in a task
of its own and hands its consumer, in order, every trace event as it is emitted (route,
reroute, model switch, tool call, budget, ...) and the answers' text as it arrives
(`TextDelta`). The run never waits for its consumer: items queue up until they are read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

from agentroute.engine.loop import RunOutcome, Session, StreamItem
from agentroute.errors import RunError
from agentroute.types import TextDelta

R = TypeVar("R")
S = TypeVar("S")
_END = object()


class RunStream(Generic[R]):
    """``async for item in stream`` gives the run's items; ``await stream.result()`` its
    result (what ``arun`` returns). The iteration ends when the run does; if the run failed,
    the iteration raises its error after the last item. To stop a run early (a client went
    away), leave an ``async with stream:`` block or call ``aclose()``: breaking out of the loop
    alone lets the run go on to its end."""

    def __init__(
        self,
        open_run: Callable[[Callable[[StreamItem], None]], Session],
        finish: Callable[[RunOutcome], R],
    ) -> None:
        self._open = open_run
        self._finish = finish
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._task: asyncio.Task[R] | None = None

    def then(self, after: Callable[[R], S]) -> RunStream[S]:
        """The same run, its result passed through ``after`` (before it starts only)."""
        if self._task is not None:
            raise RuntimeError("the run has started: chain `then` before reading the stream")
        finish = self._finish
        return RunStream(self._open, lambda outcome: after(finish(outcome)))

    def __aiter__(self) -> RunStream[R]:
        return self

    async def __anext__(self) -> StreamItem:
        self._start()
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # an ended stream stays ended
            assert self._task is not None
            await asyncio.wait([self._task])
            if self._task.cancelled():  # closed by its reader: nothing more to say
                raise StopAsyncIteration
            if self._task.exception() is not None:
                raise self._task.exception()  # type: ignore[misc]
            raise StopAsyncIteration
        return item  # type: ignore[return-value]

    async def text(self) -> AsyncIterator[str]:
        """Only the answers' text, as it arrives (leaving this loop early stops the run)."""
        try:
            async for item in self:
                if isinstance(item, TextDelta):
                    yield item.text
        finally:
            await self.aclose()

    async def result(self) -> R:
        """The run's result, once it is over (what is left of the stream is not read)."""
        self._start()
        assert self._task is not None
        if self._task.cancelled():
            raise RunError("the stream was closed before its run ended: there is no result")
        return await asyncio.shield(self._task)

    async def aclose(self) -> None:
        """Stop the run if it is still going."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])

    async def __aenter__(self) -> RunStream[R]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _start(self) -> None:
        """Open the run (``run_start``) and set it going, the first time only."""
        if self._task is None:
            session = self._open(self._queue.put_nowait)
            self._task = asyncio.ensure_future(self._drive(session))

    async def _drive(self, session: Session) -> R:
        try:
            return self._finish(await session.run())
        finally:
            self._queue.put_nowait(_END)
