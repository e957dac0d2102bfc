"""Provider errors become `agentroute.errors` at the edge.

Both official clients raise the same shapes (a status error with a response, a connection
error, a timeout), so one table keyed by HTTP status serves both.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from agentroute.errors import (
    AttemptTimeoutError,
    AuthenticationError,
    BadRequestError,
    ModelError,
    RateLimitedError,
    ServerError,
    TransportError,
)

_MAX_MESSAGE = 300


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def body_message(body: object, fallback: str) -> str:
    """The ``error.message`` of a JSON error body (both providers use that shape)."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
    return fallback


def from_status(
    status: int,
    message: str,
    headers: Mapping[str, str],
    *,
    provider: str,
    model: str,
) -> ModelError:
    message = message[:_MAX_MESSAGE]
    cls: type[ModelError]
    if status == 429:
        cls = RateLimitedError
    elif status in (408, 409) or status >= 500:
        # 408/409 are transient by nature; 5xx (529 "overloaded" included) too
        cls = ServerError
    elif status in (401, 403):
        cls = AuthenticationError
    else:
        cls = BadRequestError
    return cls(
        f"{provider} {model}: HTTP {status}: {message}",
        provider=provider,
        model=model,
        status=status,
        retry_after_s=parse_retry_after(headers) if cls.retryable else None,
    )


def transport(message: str, *, provider: str, model: str, timed_out: bool) -> ModelError:
    cls: type[ModelError] = AttemptTimeoutError if timed_out else TransportError
    return cls(f"{provider} {model}: {message[:_MAX_MESSAGE]}", provider=provider, model=model)
