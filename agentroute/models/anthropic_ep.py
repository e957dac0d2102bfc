"""Anthropic Messages endpoint on the official ``anthropic`` client (``max_retries=0``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from agentroute.models import translate
from agentroute.models.capped import capped_client
from agentroute.models.tls import shared_context
from agentroute.types import Completion, Delta, ModelRequest, ToolCall, Usage


def request_to_anthropic(model: str, req: ModelRequest) -> dict[str, Any]:
    system = "\n\n".join(m.content for m in req.messages if m.role == "system")
    if req.json_schema is not None:  # no response_format here: the schema goes in the system
        schema = json.dumps(req.json_schema, separators=(",", ":"))
        system += f"\n\nAnswer with one JSON object of this JSON schema and nothing else: {schema}"
    messages: list[dict[str, Any]] = []
    for m in req.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
                    ],
                }
            )
        elif m.tool_calls:
            blocks: list[dict[str, Any]] = (
                [{"type": "text", "text": m.content}] if m.content else []
            )
            blocks += [
                {
                    "type": "tool_use",
                    "id": c.id,
                    "name": c.name,
                    "input": json.loads(c.arguments or "{}"),
                }
                for c in m.tool_calls
            ]
            messages.append({"role": "assistant", "content": blocks})
        else:
            messages.append({"role": m.role, "content": m.content})
    if req.prefill.rstrip():  # native: the model continues a trailing assistant turn (which
        # may not end in whitespace; the seam takes out whitespace the model repeats)
        messages.append({"role": "assistant", "content": req.prefill.rstrip()})
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": req.max_tokens,
        "messages": messages,
    }
    # The current Messages API takes no sampling parameters (temperature, top_p); the
    # request's temperature is therefore not sent.
    if system:
        body["system"] = system
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    if req.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in req.tools
        ]
    return body


class AnthropicEndpoint:
    """One Claude model. Anthropic returns no token logprobs, so ``logprobs`` stays None."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        headers: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.provider = "anthropic"
        self.model = model
        self.base_url = base_url or "https://api.anthropic.com"
        self.extra_body = dict(extra_body or {}) or None
        tls = shared_context()
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=capped_client(anthropic.DefaultAsyncHttpxClient, tls),
            default_headers=headers,
        )

    async def complete(self, request: ModelRequest, *, timeout_s: float) -> Completion:
        with translate.provider_errors(
            anthropic, provider=self.provider, model=self.model, url=self.base_url
        ):
            data = await self._client.messages.create(
                **request_to_anthropic(self.model, request), timeout=timeout_s,
                extra_body=self.extra_body,
            )  # fmt: skip
            counts = translate.usage_counts(data.usage, "input_tokens", "output_tokens")
            return Completion(
                text=translate.clean_text(
                    "".join(b.text for b in data.content if b.type == "text")
                ),
                model=data.model or self.model,
                provider=self.provider,
                usage=Usage(input_tokens=counts[0], output_tokens=counts[1]) if counts else Usage(),
                usage_reported=counts is not None,
                finish_reason=data.stop_reason or "",
                tool_calls=tuple(
                    ToolCall(id=b.id, name=b.name, arguments=json.dumps(b.input))
                    for b in data.content
                    if b.type == "tool_use"
                ),
            )
        raise AssertionError("unreachable")  # pragma: no cover - for type checkers

    async def stream(
        self, request: ModelRequest, *, timeout_s: float
    ) -> AsyncIterator[Delta | Completion]:
        """The answer as server-sent events: its pieces, then the whole completion
        (`StreamBrokenError` if the stream ends before ``message_stop``)."""
        body = request_to_anthropic(self.model, request)
        got = translate.Assembled(self.provider, self.model)
        with translate.provider_errors(
            anthropic, provider=self.provider, model=self.model, url=self.base_url
        ):
            events = await self._client.messages.create(
                **body, stream=True, timeout=timeout_s, extra_body=self.extra_body
            )
            async for event in events:
                piece = _absorb(got, event)
                if piece is not None:
                    yield piece
            yield got.completion()

    async def aclose(self) -> None:
        await self._client.close()


TOKEN_CHARS = 8
"""Anthropic's pieces hold several tokens and no count: a piece is counted as one token per
this many characters (fewer than it holds), so the budget's stop never cuts an honest
stream."""


def _absorb(got: translate.Assembled, event: Any) -> Delta | None:
    """Take one stream event into ``got``; the piece of answer it carries, if any."""
    kind = event.type
    if kind == "content_block_delta":
        d = event.delta
        if d.type == "text_delta":
            got.text.append(d.text)
            return Delta(d.text, max(1, len(d.text) // TOKEN_CHARS))
        if d.type == "input_json_delta":
            got.call(event.index, None, None, d.partial_json)
            return Delta("", max(1, len(d.partial_json) // TOKEN_CHARS))
    elif kind == "content_block_start" and event.content_block.type == "tool_use":
        got.call(event.index, event.content_block.id, event.content_block.name, "")
    elif kind == "message_start":
        got.model = event.message.model or got.model
        got.input_tokens = event.message.usage.input_tokens
    elif kind == "message_delta":
        got.finish = event.delta.stop_reason or got.finish or ""
        out = translate.usage_counts(event.usage, "output_tokens", "output_tokens")
        if out is not None and got.input_tokens is not None:
            got.counts = (got.input_tokens, out[1])
    elif kind == "message_stop":
        got.finish = got.finish or "end_turn"
    return None
