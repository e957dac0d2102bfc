"""Turn a declared `Model` into a live `ModelEndpoint`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from agentroute.errors import ConfigError, LocalModelError, ModelError
from agentroute.models import translate
from agentroute.models.endpoint import ModelEndpoint
from agentroute.models.model import Model
from agentroute.types import Completion, Delta, ModelRequest


async def prepare(models: Iterable[Model]) -> None:
    """Start the embedded servers these models need, all at once and off the event loop."""
    tiers = {m.name for m in models if m.provider == "local"}
    if not tiers:
        return
    from agentroute.models.local.server import POOL

    await asyncio.gather(*(asyncio.to_thread(POOL.url_for, tier) for tier in sorted(tiers)))


def connect(model: Model) -> ModelEndpoint:
    if model.provider == "function":
        raise ConfigError(
            f"{model.label} is served by a Python function: give the function to the runner "
            "that calls it (functions={...})"
        )
    key = model.api_key.get_secret_value() if model.api_key else None
    if model.provider == "anthropic":
        from agentroute.models.anthropic_ep import AnthropicEndpoint

        return AnthropicEndpoint(
            model.name, api_key=key, base_url=model.base_url, headers=model.headers or None,
            extra_body=model.extra_body,
        )  # fmt: skip
    from agentroute.models.openai_compat import OpenAICompatibleEndpoint

    if model.provider == "local":
        from agentroute.models.local.server import POOL

        return LocalEndpoint(
            OpenAICompatibleEndpoint(POOL.url_for(model.name), model.name, provider="local"),
            model.name,
        )
    assert model.base_url is not None
    return OpenAICompatibleEndpoint(
        model.base_url, model.name, api_key=key, provider=model.provider,
        headers=model.headers or None, extra_body=model.extra_body,
        api_version=model.api_version, max_in_flight=model.max_in_flight,
    )  # fmt: skip


HOLD = ("{", "[", "<", "`")
"""How an answer that may be a tool call written as text begins: it is held back whole."""


def _with_calls(request: ModelRequest, completion: Completion) -> Completion:
    """``completion`` with the tool calls its text holds, when tools were offered and the
    server parsed none."""
    if not request.tools or completion.tool_calls:
        return completion
    calls = translate.tool_calls_in_text(completion.text, (t.name for t in request.tools))
    if not calls:
        return completion
    return completion.model_copy(
        update={"text": "", "tool_calls": calls, "finish_reason": "tool_calls"}
    )


class FunctionEndpoint:
    """A Python completion function as a model endpoint (``Model.function``)."""

    def __init__(self, name: str, fn: Callable[[ModelRequest], Awaitable[Completion]]) -> None:
        self.provider = "function"
        self.model = name
        self._fn = fn

    async def complete(self, request: ModelRequest, *, timeout_s: float) -> Completion:
        return await self._fn(request)

    async def aclose(self) -> None:
        return None


class LocalEndpoint:
    """An embedded model's endpoint: tells a dead server apart from a slow one, and reads the
    tool calls the models write as text (llama-cpp-python's default chat handler passes them
    on as text: `translate.tool_calls_in_text`)."""

    provider = "local"

    def __init__(self, inner: ModelEndpoint, tier: str) -> None:
        self._inner = inner
        self.model = tier

    async def complete(self, request: ModelRequest, *, timeout_s: float) -> Completion:
        try:
            return _with_calls(request, await self._inner.complete(request, timeout_s=timeout_s))
        except ModelError as exc:
            dead = self._dead()
            if dead is None:
                raise
            raise dead from exc

    async def stream(
        self, request: ModelRequest, *, timeout_s: float
    ) -> AsyncIterator[Delta | Completion]:
        stream = getattr(self._inner, "stream", None)
        if stream is None:  # an endpoint that cannot stream answers whole
            yield await self.complete(request, timeout_s=timeout_s)
            return
        held: list[Delta] | None = None  # an answer that may be a tool call is held back
        said = False
        try:
            async with contextlib.aclosing(stream(request, timeout_s=timeout_s)) as pieces:
                async for piece in pieces:
                    if isinstance(piece, Completion):
                        done = _with_calls(request, piece)
                        if held and not done.tool_calls:
                            for d in held:
                                yield d
                        yield done
                    elif held is not None:
                        held.append(piece)
                    elif request.tools and not said and piece.text.lstrip()[:1] in HOLD:
                        held = [piece]
                    else:
                        said = said or bool(piece.text.strip())
                        yield piece
        except ModelError as exc:
            dead = self._dead()
            if dead is None:
                raise
            raise dead from exc

    def _dead(self) -> LocalModelError | None:
        """The error to raise instead when the server itself is gone (it crashed)."""
        from agentroute.models.local.server import POOL

        server = POOL.server(self.model)
        if server is None or server.alive():
            return None
        return LocalModelError(
            f"the local {self.model} server stopped during the run; log "
            f"{server.log_path}:\n{server.log_tail()}"
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
