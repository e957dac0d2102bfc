"""Anthropic Messages endpoint on the official ``anthropic`` client (``max_retries=0``)."""

from __future__ import annotations

import json
from typing import Any

import anthropic

from agentroute.models import translate
from agentroute.models.capped import capped_client
from agentroute.models.tls import shared_context
from agentroute.types import Completion, ModelRequest, ToolCall, Usage


def request_to_anthropic(model: str, req: ModelRequest) -> dict[str, Any]:
    system = "\n\n".join(m.content for m in req.messages if m.role == "system")
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
        self, model: str, *, api_key: str | None = None, base_url: str | None = None
    ) -> None:
        self.provider = "anthropic"
        self.model = model
        self.base_url = base_url or "https://api.anthropic.com"
        tls = shared_context()
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            http_client=capped_client(anthropic.DefaultAsyncHttpxClient, tls),
        )

    async def complete(self, request: ModelRequest, *, timeout_s: float) -> Completion:
        with translate.provider_errors(
            anthropic, provider=self.provider, model=self.model, url=self.base_url
        ):
            data = await self._client.messages.create(
                **request_to_anthropic(self.model, request), timeout=timeout_s
            )
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

    async def aclose(self) -> None:
        await self._client.close()
