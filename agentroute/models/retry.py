"""The one retry layer (tenacity). Nothing else in agentroute retries.

Attempts are retried only for errors marked ``retryable``; waits are jittered exponential,
or the server's ``Retry-After`` when it sent one (capped). A hard deadline bounds all attempts
together; cancellation passes straight through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

from agentroute.errors import AttemptTimeoutError, DeadlineExceededError, ModelError
from agentroute.models.model import RetryPolicy

T = TypeVar("T")
_BACKSTOP_GRACE_S = 0.5
"""How long after its timeout an attempt that ignores it is stopped by force."""
OnRetry = Callable[[int, ModelError, float], None]
"""Called before each wait with (attempt that failed, its error, seconds about to wait)."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ModelError) and exc.retryable


class _Wait:
    """Retry-After when the server gave one, jittered exponential backoff otherwise; never
    longer than what is left of the deadline."""

    def __init__(self, policy: RetryPolicy, deadline_at: float) -> None:
        self._policy = policy
        self._deadline_at = deadline_at
        self._backoff = wait_random_exponential(
            multiplier=policy.initial_backoff_s, max=policy.max_backoff_s
        )

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = exc.retry_after_s if isinstance(exc, ModelError) else None
        if hinted is not None:
            wait = min(hinted, self._policy.max_retry_after_s)
        else:
            wait = float(self._backoff(state))
        return max(0.0, min(wait, self._deadline_at - time.monotonic()))


async def call_with_retry(
    attempt: Callable[[int, float], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: OnRetry | None = None,
    label: str = "",
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """Run ``attempt(number, timeout_s)`` until it succeeds, fails for good, or the deadline
    passes. Each attempt's timeout is the policy's, shortened to what the deadline leaves.

    The first attempt runs on its own: most calls succeed at once, and tenacity's machinery
    (built per call, and left in reference cycles for the garbage collector) is set up only
    when a retryable failure needs it; it then takes that failure as its attempt 1."""
    deadline_at = time.monotonic() + policy.deadline_s
    try:
        return await _one(attempt, 1, policy, deadline_at, label)
    except ModelError as exc:
        if policy.max_attempts == 1 or not _retryable(exc):
            raise
        if time.monotonic() >= deadline_at:
            raise DeadlineExceededError(
                f"{label}: deadline of {policy.deadline_s:.3g}s passed", model=label
            ) from exc
        first = exc

    async def again(number: int) -> T:
        if number == 1:
            raise first
        return await _one(attempt, number, policy, deadline_at, label)

    return await _retrying(again, policy, deadline_at, on_retry, label, sleep)


async def _one(
    attempt: Callable[[int, float], Awaitable[T]],
    number: int,
    policy: RetryPolicy,
    deadline_at: float,
    label: str,
) -> T:
    timeout = max(0.001, min(policy.attempt_timeout_s, deadline_at - time.monotonic()))
    try:
        # the attempt should keep to ``timeout`` itself (and say so in its own terms);
        # this backstop catches one that does not
        async with asyncio.timeout(timeout + _BACKSTOP_GRACE_S):
            return await attempt(number, timeout)
    except TimeoutError as exc:
        raise AttemptTimeoutError(
            f"{label}: attempt {number} ran past {timeout:.3g}s", model=label
        ) from exc


async def _retrying(
    attempt: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    deadline_at: float,
    on_retry: OnRetry | None,
    label: str,
    sleep: Callable[[float], Awaitable[None]] | None,
) -> T:
    """Tenacity's loop over ``attempt(number)``, within what is left of the deadline."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None and isinstance(exc, ModelError):
            wait = state.next_action.sleep if state.next_action else 0.0
            on_retry(state.attempt_number, exc, wait)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=_Wait(policy, deadline_at),
        retry=retry_if_exception(_retryable),
        before_sleep=before_sleep,
        reraise=True,
        sleep=sleep or asyncio.sleep,
    )
    try:
        async with asyncio.timeout(max(0.0, deadline_at - time.monotonic())):
            async for state in retrying:
                with state:
                    return await attempt(state.retry_state.attempt_number)
    except TimeoutError as exc:
        raise DeadlineExceededError(
            f"{label}: deadline of {policy.deadline_s:.3g}s passed", model=label
        ) from exc
    raise AssertionError("unreachable: tenacity stops by raising")  # pragma: no cover
