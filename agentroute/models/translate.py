"""Provider errors become `agentroute.errors` at the edge.

Both official clients raise the same shapes (a status error with a response, a connection
error, a timeout), so one table keyed by HTTP status serves both.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeGuard

from agentroute.errors import (
    AttemptTimeoutError,
    AuthenticationError,
    BadRequestError,
    ModelError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    StreamBrokenError,
    TransportError,
)
from agentroute.types import Completion, ToolCall, Usage

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
    if status < 400:  # an error event inside a stream that had begun with 200 OK
        cls = ServerError
    elif status == 429:
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
        # inside a stream the server was already generating (and billing): no status then,
        # so the attempt is billed like any that may have run
        status=status if status >= 400 else None,
        retry_after_s=parse_retry_after(headers) if cls.retryable else None,
    )


def transport(
    message: str, *, provider: str, model: str, timed_out: bool, sent: bool = True
) -> ModelError:
    cls: type[ModelError] = AttemptTimeoutError if timed_out else TransportError
    return cls(
        f"{provider} {model}: {message[:_MAX_MESSAGE]}", provider=provider, model=model, sent=sent
    )


_NOT_CONNECTED = frozenset({"ConnectError", "ConnectionRefusedError", "ConnectTimeout"})


def _never_sent(exc: BaseException) -> bool:
    """The connection was never made, so no byte of the request left (httpx's connect
    errors, a refused connection)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if type(seen).__name__ in _NOT_CONNECTED:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def provider_errors(
    sdk: ModuleType, *, provider: str, model: str, url: str | None = None
) -> Iterator[None]:
    """Translate the exceptions of ``openai`` or ``anthropic`` (they share these class names)
    raised inside the block, and of their HTTP layer (a stream that breaks while read)."""
    import httpx2  # here, not at import: only a live request needs it

    try:
        yield
    except sdk.APIStatusError as exc:
        raise from_status(
            exc.status_code,
            body_message(exc.body, exc.message),
            exc.response.headers,
            provider=provider,
            model=model,
        ) from exc
    except sdk.APITimeoutError as exc:
        raise transport(
            str(exc), provider=provider, model=model, timed_out=True, sent=not _never_sent(exc)
        ) from exc
    except sdk.APIConnectionError as exc:
        cause = exc.__cause__ or exc.__context__
        detail = f"{exc}: {type(cause).__name__}: {cause}" if cause else str(exc)
        if url:
            detail = f"{url}: {detail}"
        raise transport(
            detail, provider=provider, model=model, timed_out=False, sent=not _never_sent(exc)
        ) from exc
    except sdk.APIError as exc:  # an error event in the middle of a stream
        raise transport(
            f"error in the stream: {exc}", provider=provider, model=model, timed_out=False
        ) from exc
    except httpx2.TransportError as exc:  # the connection failed (or broke mid-stream)
        detail = f"{type(exc).__name__}: {exc}"
        raise transport(
            f"{url}: {detail}" if url else detail, provider=provider, model=model,
            timed_out=isinstance(exc, httpx2.TimeoutException), sent=not _never_sent(exc),
        ) from exc  # fmt: skip
    except (
        sdk.APIResponseValidationError, ValueError, TypeError, AttributeError, LookupError,
        RecursionError,
    ) as exc:  # fmt: skip
        # a body that is not JSON (json.JSONDecodeError is a ValueError) or that lacks the
        # fields a completion must have
        raise ResponseFormatError(
            f"{provider} {model}: unreadable response: {str(exc)[:_MAX_MESSAGE]}",
            provider=provider,
            model=model,
        ) from exc


@dataclass
class Assembled:
    """A streamed answer put back together from its pieces (both providers' streams)."""

    provider: str
    model: str
    text: list[str] = field(default_factory=list)
    calls: dict[int, list[str]] = field(default_factory=dict)
    """Tool calls by index: id, name, then the argument fragments."""
    finish: str | None = None
    counts: tuple[int, int] | None = None
    input_tokens: int | None = None
    """Anthropic reports the prompt's tokens first and the output's at the end."""

    def call(self, index: int, call_id: str | None, name: str | None, args: str) -> None:
        parts = self.calls.setdefault(index, ["", ""])
        parts[0] = parts[0] or call_id or ""
        parts[1] = parts[1] or name or ""
        if args:
            parts.append(args)

    def completion(self) -> Completion:
        """The whole answer; `StreamBrokenError` when the stream never said it was done."""
        if self.finish is None:
            raise StreamBrokenError(
                f"{self.provider} {self.model}: the stream ended before its final chunk",
                provider=self.provider,
                model=self.model,
            )
        calls = tuple(
            ToolCall(id=p[0] or f"call_{i}", name=p[1], arguments=clean_text("".join(p[2:]))
                     or "{}")
            for i, p in sorted(self.calls.items())
        )  # fmt: skip
        return Completion(
            text=clean_text("".join(self.text)),
            model=self.model,
            provider=self.provider,
            usage=Usage(input_tokens=self.counts[0], output_tokens=self.counts[1])
            if self.counts
            else Usage(),
            usage_reported=self.counts is not None,
            finish_reason=self.finish,
            tool_calls=calls,
        )


_WRAPPING = re.compile(r"</?tool_call>|^```[a-z]*\s*$", re.M)


def tool_calls_in_text(text: str, names: Iterable[str]) -> tuple[ToolCall, ...]:
    """Tool calls a model wrote as text, the way Qwen and Hermes models do when the server
    does not parse them (llama-cpp-python's default chat handler): ``{"name": ...,
    "arguments": {...}}`` objects, one JSON value (an object or a list of them) or one per
    line, bare, in ``<tool_call>`` tags or in a code fence (the embedded models sometimes
    double the braces). Only calls of the offered tools count; anything else in the text
    means it is an answer, and none are returned."""
    known = set(names)
    body = _WRAPPING.sub("\n", text).strip()
    if not known or not body.startswith(("{", "[")):
        return ()
    whole = _loose_json(body)
    found = whole if isinstance(whole, list) else [whole] if whole is not None else None
    if found is None:
        found = [_loose_json(line.strip()) for line in body.split("\n") if line.strip()]
    calls = []
    for i, data in enumerate(found):
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or name not in known:
            return ()
        args = data.get("arguments", {})
        if isinstance(args, str):
            args = _loose_json(args)
        if not isinstance(args, dict):
            return ()
        calls.append(ToolCall(id=f"call_{i}", name=name, arguments=json.dumps(args)))
    return tuple(calls)


def _loose_json(text: str) -> Any:
    for attempt in (text, text.replace("{{", "{").replace("}}", "}")):
        try:
            return json.loads(attempt)
        except (ValueError, RecursionError):
            continue
    return None


def usage_counts(usage: Any, input_field: str, output_field: str) -> tuple[int, int] | None:
    """Both token counts when the server reported both as whole numbers >= 0; None when the
    usage is missing, partial or null (then the call is billed at its reserved worst case).
    ``usage``: an SDK's usage object, or the JSON object itself."""
    if usage is None:
        return None
    if isinstance(usage, dict):
        tokens_in, tokens_out = usage.get(input_field), usage.get(output_field)
    else:
        tokens_in = getattr(usage, input_field, None)
        tokens_out = getattr(usage, output_field, None)
    if _count(tokens_in) and _count(tokens_out):
        return tokens_in, tokens_out
    return None


def _count(x: object) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def clean_text(text: str) -> str:
    """Text that serializes: lone surrogates (no valid UTF-8) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text
