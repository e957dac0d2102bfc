"""Structured concurrency for parallel branches: all finish, or the first failure cancels
the rest (whose cancellation is awaited) and is raised as itself, not wrapped in a group."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


async def all_or_cancel(
    coros: Sequence[Coroutine[Any, Any, T]], *, soft: type[BaseException] | None = None
) -> list[T]:
    """``soft``: a kind of failure that yields to any other raised at the same time."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:  # we were cancelled ourselves: take the branches down with us
        for t in tasks:
            t.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, return_exceptions=True)
        raise
    # look at every finished branch's exception (two may fail at once), raise the first
    finished = [t for t in tasks if t.done() and not t.cancelled()]
    errors = [e for e in (t.exception() for t in finished) if e is not None]
    if soft is not None:
        errors.sort(key=lambda e: isinstance(e, soft))
    if not errors:
        return [t.result() for t in tasks]
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    raise errors[0]
