"""One exception tree for the whole SDK.

Two halves under one root: `ConfigError` means a declaration is wrong and nothing ran;
`RunError` means something went wrong while running. Every error carries the data a caller
needs to act on it (status, retryability, the numbers behind a budget refusal) so nobody has
to parse messages. Provider exceptions are translated at the edge with ``raise ... from``.
"""

from __future__ import annotations


class AgentrouteError(Exception):
    """Root of every exception agentroute raises on purpose."""


class ConfigError(AgentrouteError, ValueError):
    """A declaration is invalid (unknown agent, negative price, tool without a schema, ...)."""


class RunError(AgentrouteError):
    """Something failed while a task was running."""


class ModelError(RunError):
    """A model call failed. ``retryable`` tells the one retry layer whether to try again."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        retry_after_s: float | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status = status
        self.retry_after_s = retry_after_s
        self.sent = sent
        """False only when the request provably never left (the connection was refused):
        then nothing can have been billed."""
        self.partial = ""
        """The answer so far when a stream broke mid-answer: what a retry or another model
        continues from (it already reached the caller's stream)."""

    @property
    def type_name(self) -> str:
        """Stable name for traces (the OpenTelemetry ``error.type``)."""
        return type(self).__name__


class RateLimitedError(ModelError):
    """HTTP 429: the server asked us to slow down (may carry ``retry_after_s``)."""

    retryable = True


class ServerError(ModelError):
    """HTTP 5xx: the server failed; trying again may work."""

    retryable = True


class TransportError(ModelError):
    """Connection refused, reset, or a body cut short: no usable answer arrived."""

    retryable = True


class StreamBrokenError(TransportError):
    """A streamed answer ended before it was finished (no final chunk): what arrived is in
    ``partial``, and the next attempt continues from it."""


class NoReplicaError(ModelError):
    """Every replica of a pooled model is down (its health signals say so): no request was
    sent (``sent`` is False), and the model is routed around like one that failed."""


class AttemptTimeoutError(ModelError):
    """One attempt ran past its timeout; another attempt may be faster."""

    retryable = True


class DeadlineExceededError(ModelError):
    """The call's hard deadline (all attempts together) passed. Never retried."""


class AuthenticationError(ModelError):
    """HTTP 401/403: credentials are missing or wrong. Never retried."""


class BadRequestError(ModelError):
    """HTTP 4xx other than 429: the request itself is wrong. Never retried."""


class ResponseFormatError(ModelError):
    """The server answered, but not with something we can read (malformed JSON, no choices)."""


class BudgetExceededError(RunError):
    """A call could not be afforded, or a server spent more than was reserved.

    ``partial`` holds whatever output the task had produced before it stopped.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: float,
        spent: float,
        requested: float,
        unit: str = "usd",
        partial: str | None = None,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.spent = spent
        self.requested = requested
        self.unit = unit
        self.partial = partial


class RoutingError(RunError):
    """No agent could be chosen and no default was declared."""


class ActionFormatError(RoutingError):
    """A routing model wrote an action that cannot be followed (a multi-round router's round
    that names no action, a model outside its pool, an empty question or answer). ``problem``
    is a stable code (``no_action``, ``unknown_model``, ``unavailable_model``,
    ``empty_query``, ``empty_answer``, ``too_long``, ``must_answer``, ``must_route``);
    ``text`` the start of what was written."""

    def __init__(self, message: str, *, problem: str = "no_action", text: str = "") -> None:
        super().__init__(message)
        self.problem = problem
        self.text = text


class ToolError(RunError):
    """A tool raised or returned something that is not JSON-serialisable."""

    def __init__(self, message: str, *, tool: str) -> None:
        super().__init__(message)
        self.tool = tool


class TraceError(AgentrouteError):
    """A trace file is malformed, oversized, or fails verification."""


class LocalModelError(RunError):
    """The embedded local model could not be fetched, verified, started, or kept alive."""


def rebuild_error(type_name: str, message: str) -> RunError:
    """An error of the named kind from its type name and message (a checkpoint or a trace
    holds only these): the agentroute class when it takes a message alone, else `RunError`."""
    cls = globals().get(type_name)
    if isinstance(cls, type) and issubclass(cls, RunError):
        try:
            return cls(message)
        except TypeError:
            pass
    return RunError(f"{type_name}: {message}")
