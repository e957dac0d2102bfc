"""OpenAI-compatible endpoint: vLLM, SGLang, Ollama, llama.cpp's server, TGI, Azure OpenAI
and OpenAI itself.

A whole answer is one POST of the body built here, sent on the HTTP client's connection pool
and read back as plain JSON: the ``openai`` client would transform the parameters again and
build its typed response objects, which cost more CPU than the rest of a call (measured in
``benchmarks/throughput.py``). Streams go through the ``openai`` client (its SSE decoding).
Both share one connection pool, sized by ``max_in_flight`` (the caller's in-flight gate), and
neither retries: retrying belongs to `agentroute.models.retry` alone.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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
    """Read a chat completion (the JSON body, as a dict) into our value type."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices:
        raise ResponseFormatError(
            f"{provider} {model}: response has no choices", provider=provider, model=model
        )
    choice = choices[0]
    msg = choice["message"]
    calls = tuple(
        ToolCall(id=c["id"], name=fn["name"], arguments=fn.get("arguments") or "{}")
        for c in (msg.get("tool_calls") or ())
        if (fn := c.get("function")) is not None
    )
    counts = translate.usage_counts(data.get("usage"), "prompt_tokens", "completion_tokens")
    return Completion(
        text=translate.clean_text(msg.get("content") or ""),
        model=data.get("model") or model,
        provider=provider,
        usage=Usage(input_tokens=counts[0], output_tokens=counts[1]) if counts else Usage(),
        usage_reported=counts is not None,
        finish_reason=choice.get("finish_reason") or "",
        tool_calls=tuple(
            c.model_copy(update={"arguments": translate.clean_text(c.arguments)}) for c in calls
        ),
        logprobs=_logprobs(choice.get("logprobs")),
    )


def _logprobs(lp: Any) -> tuple[TokenLogprob, ...] | None:
    if not isinstance(lp, dict) or not lp.get("content"):
        return None
    return tuple(
        TokenLogprob(
            token=t["token"], logprob=float(t["logprob"]),
            top=tuple(TopLogprob(token=a["token"], logprob=float(a["logprob"]))
                      for a in (t.get("top_logprobs") or ())),
        )
        for t in lp["content"]
    )  # fmt: skip


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
        max_in_flight: int = 100,
    ) -> None:
        """``api_version``: an Azure OpenAI endpoint (``base_url`` is the resource, ``model``
        the deployment). ``max_in_flight``: the most requests this endpoint sends at once
        (`gate`, held by the caller) and the size of its connection pool, so connections are
        kept alive and reused however many tasks wait."""
        self.provider = provider
        self.model = model
        self.base_url = base_url
        self.schema_style = "json_object" if provider == "local" else "json_schema"
        self.extra_body = dict(extra_body or {}) or None
        self.gate = asyncio.Semaphore(max_in_flight)
        self._http = capped_client(openai.DefaultAsyncHttpx2Client, shared_context(), max_in_flight)
        key = api_key or _NO_KEY
        sent = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_version is not None:
            self._client: openai.AsyncOpenAI = openai.AsyncAzureOpenAI(
                azure_endpoint=base_url, api_key=api_key, api_version=api_version,
                max_retries=0, http_client=self._http, default_headers=headers,
            )  # fmt: skip
            path = f"/openai/deployments/{model}/chat/completions"
            self._url, self._params = _joined(base_url, path, {"api-version": api_version})
            sent["api-key"] = key
        else:
            self._client = openai.AsyncOpenAI(
                base_url=base_url, api_key=key, max_retries=0,
                http_client=self._http, default_headers=headers,
            )  # fmt: skip
            self._url, self._params = _joined(base_url, "/chat/completions", {})
            sent["Authorization"] = f"Bearer {key}"
        self._headers = {**sent, **(headers or {})}
        self._named: dict[str, OpenAICompatibleEndpoint] = {}

    def named(self, model: str) -> OpenAICompatibleEndpoint:
        """This endpoint asking for another model name on the same connections and in-flight
        gate: a LoRA adapter, which vLLM serves under its own name next to the base model."""
        found = self._named.get(model)
        if found is None:
            found = copy.copy(self)
            found.model, found._named = model, {}
            self._named[model] = found
        return found

    async def complete(self, request: ModelRequest, *, timeout_s: float) -> Completion:
        body = request_to_openai(self.model, request, schema_style=self.schema_style)
        if self.extra_body:
            body.update(self.extra_body)
        with translate.provider_errors(
            openai, provider=self.provider, model=self.model, url=self.base_url
        ):
            response = await self._http.post(
                self._url, content=json.dumps(body).encode(), headers=self._headers,
                params=self._params, timeout=timeout_s,
            )  # fmt: skip
            return self._read(response)
        raise AssertionError("unreachable")  # pragma: no cover - for type checkers

    def _read(self, response: Any) -> Completion:
        """The completion in a response, or the error its status or body says."""
        provider, model = self.provider, self.model
        if response.status_code >= 400:
            try:
                data = response.json()
            except ValueError:
                data = None
            message = translate.body_message(data, response.text or response.reason_phrase)
            raise translate.from_status(
                response.status_code, message, response.headers, provider=provider, model=model
            )
        if not response.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
            # a server that sends a non-JSON content type (an HTML error page behind a proxy)
            raise ResponseFormatError(
                f"{provider} {model}: response is not a JSON chat completion",
                provider=provider, model=model,
            )  # fmt: skip
        return completion_from_openai(response.json(), provider=provider, model=model)

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


def _joined(base_url: str, path: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The URL of ``path`` under ``base_url``, and the query parameters to send: the base
    URL's own (some gateways take their key there) and ``params``."""
    parts = urlsplit(base_url)
    url = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))
    return url, {**dict(parse_qsl(parts.query)), **params}


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
