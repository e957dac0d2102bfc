"""OpenAI-compatible endpoint on the official ``openai`` client.

Covers vLLM, SGLang, Ollama, llama.cpp's server, TGI and OpenAI itself. The client is built
with ``max_retries=0``: retrying belongs to `agentroute.models.retry` alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai

from agentroute.errors import ResponseFormatError
from agentroute.models import translate
from agentroute.models.capped import capped_client
from agentroute.models.tls import shared_context
from agentroute.types import (
    Completion,
    Delta,
    Message,
    ModelRequest,
    TokenLogprob,
    ToolCall,
    TopLogprob,
    Usage,
)

_NO_KEY = "not-needed"  # local servers ignore the key, but the client insists on one
CONTINUE = (
    "Your answer above was cut off. Continue it from exactly where it stops: do not repeat "
    "any of it, do not comment, just go on."
)
"""How a prefill is asked for where the chat API has no native way (`ModelRequest.prefill`)."""


def message_to_openai(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    return out


def request_to_openai(
    model: str, req: ModelRequest, *, schema_style: str = "json_schema"
) -> dict[str, Any]:
    """The chat completion body. ``schema_style``: how the server takes a JSON schema
    (``json_schema``, the OpenAI form; ``json_object``, llama-cpp-python's)."""
    messages = [message_to_openai(m) for m in req.messages]
    if req.prefill:
        messages += [{"role": "assistant", "content": req.prefill},
                     {"role": "user", "content": CONTINUE}]  # fmt: skip
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
    }
    if req.stop:
        body["stop"] = list(req.stop)
    if req.logprobs:
        body["logprobs"] = True
        # llama.cpp's server returns no logprobs at all unless top_logprobs >= 1
        body["top_logprobs"] = max(1, req.top_logprobs)
    if req.tools:
        body["tools"] = [{"type": "function", "function": t.model_dump()} for t in req.tools]
    if req.json_schema is not None and schema_style == "json_object":
        body["response_format"] = {"type": "json_object", "schema": req.json_schema}
    elif req.json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": req.json_schema},
        }
    elif req.json_mode:
        body["response_format"] = {"type": "json_object"}
    if req.seed is not None:
        body["seed"] = req.seed
    return body


def completion_from_openai(data: Any, *, provider: str, model: str) -> Completion:
    """Read a chat completion object (from the client) into our value type."""
    choices = getattr(data, "choices", None)
    if not choices:
        raise ResponseFormatError(
            f"{provider} {model}: response has no choices", provider=provider, model=model
        )
    choice = choices[0]
    msg = choice.message
    calls = tuple(
        ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
        for c in (msg.tool_calls or ())
        if getattr(c, "function", None) is not None
    )
    logprobs = None
    lp = getattr(choice, "logprobs", None)
    if lp is not None and getattr(lp, "content", None):
        logprobs = tuple(
            TokenLogprob(
                token=t.token,
                logprob=float(t.logprob),
                top=tuple(
                    TopLogprob(token=a.token, logprob=float(a.logprob))
                    for a in (t.top_logprobs or ())
                ),
            )
            for t in lp.content
        )
    counts = translate.usage_counts(
        getattr(data, "usage", None), "prompt_tokens", "completion_tokens"
    )
    return Completion(
        text=translate.clean_text(msg.content or ""),
        model=getattr(data, "model", None) or model,
        provider=provider,
        usage=Usage(input_tokens=counts[0], output_tokens=counts[1]) if counts else Usage(),
        usage_reported=counts is not None,
        finish_reason=choice.finish_reason or "",
        tool_calls=tuple(
            c.model_copy(update={"arguments": translate.clean_text(c.arguments)}) for c in calls
        ),
        logprobs=logprobs,
    )


class OpenAICompatibleEndpoint:
    """One model on one OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        provider: str = "openai",
        headers: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
        api_version: str | None = None,
    ) -> None:
        """``api_version``: an Azure OpenAI endpoint (``base_url`` is the resource, ``model``
        the deployment)."""
        self.provider = provider
        self.model = model
        self.base_url = base_url
        self.schema_style = "json_object" if provider == "local" else "json_schema"
        self.extra_body = dict(extra_body or {}) or None
        http = capped_client(openai.DefaultAsyncHttpx2Client, shared_context())
        if api_version is not None:
            self._client: openai.AsyncOpenAI = openai.AsyncAzureOpenAI(
                azure_endpoint=base_url, api_key=api_key, api_version=api_version,
                max_retries=0, http_client=http, default_headers=headers,
            )  # fmt: skip
        else:
            self._client = openai.AsyncOpenAI(
                base_url=base_url, api_key=api_key or _NO_KEY, max_retries=0,
                http_client=http, default_headers=headers,
            )  # fmt: skip

    async def complete(self, request: ModelRequest, *, timeout_s: float) -> Completion:
        body = request_to_openai(self.model, request, schema_style=self.schema_style)
        with translate.provider_errors(
            openai, provider=self.provider, model=self.model, url=self.base_url
        ):
            data = await self._client.chat.completions.create(
                **body, timeout=timeout_s, extra_body=self.extra_body
            )
            if isinstance(data, str | bytes):
                # a server that sends a non-JSON content type makes the client return raw text
                raise ResponseFormatError(
                    f"{self.provider} {self.model}: response is not a JSON chat completion",
                    provider=self.provider,
                    model=self.model,
                )
            return completion_from_openai(data, provider=self.provider, model=self.model)
        raise AssertionError("unreachable")  # pragma: no cover - for type checkers

    async def stream(
        self, request: ModelRequest, *, timeout_s: float
    ) -> AsyncIterator[Delta | Completion]:
        """The answer as server-sent events: its pieces (one token each, as these servers
        send them), then the whole completion (`StreamBrokenError` if the stream ends before
        its final chunk)."""
        body = request_to_openai(self.model, request, schema_style=self.schema_style)
        body["stream"], body["stream_options"] = True, {"include_usage": True}
        got = translate.Assembled(self.provider, self.model)
        with translate.provider_errors(
            openai, provider=self.provider, model=self.model, url=self.base_url
        ):
            chunks = await self._client.chat.completions.create(
                **body, timeout=timeout_s, extra_body=self.extra_body
            )
            async for chunk in chunks:
                piece = _absorb(got, chunk)
                if piece is not None:
                    yield piece
            yield got.completion()

    async def aclose(self) -> None:
        await self._client.close()


def _absorb(got: translate.Assembled, chunk: Any) -> Delta | None:
    """Take one stream chunk into ``got``; the piece of answer it carries, if any."""
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        got.counts = translate.usage_counts(usage, "prompt_tokens", "completion_tokens")
    got.model = getattr(chunk, "model", None) or got.model
    if not chunk.choices:
        return None
    choice = chunk.choices[0]
    got.finish = choice.finish_reason or got.finish
    delta = choice.delta
    if delta is None:
        return None
    for c in delta.tool_calls or ():
        fn = c.function
        got.call(c.index, c.id, fn.name if fn else None, (fn.arguments or "") if fn else "")
    if delta.tool_calls:
        return Delta("", 1)
    if delta.content:
        got.text.append(delta.content)
        return Delta(delta.content, 1)
    return None
