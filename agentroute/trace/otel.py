"""OpenTelemetry spans from trace events, following the GenAI semantic conventions.

`SpanWriter` is a trace sink: give it to a pipeline (``Pipeline(..., sinks=[writer])``) and
each run becomes spans while it goes: an ``invoke_agent`` span per run (open until the run
ends), a ``chat`` span per model-call attempt and an ``execute_tool`` span per tool call, each
sent as soon as its event is emitted, with ``gen_ai.*`` attributes. The facts the conventions
have no names for (routes, model switches, budget reserve and settle, reweighting, reroutes,
health signals, escalations) become span events under ``agentroute.*``.

The writer sees records after the tracer's redactor, so a secret that the trace would not hold
never reaches a collector. Prompts, answers and tool arguments are left out unless
``content=True`` (the conventions' opt-in ``gen_ai.input.messages``/``gen_ai.output.messages``).

`otlp(endpoint)` builds a writer that sends OTLP over HTTP to a collector; `export(trace)`
writes a saved trace through the same writer. Needs the ``otel`` extra.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from agentroute.trace.tracer import Trace

_NS = 1_000_000_000
_SKIP = {"v", "run_id", "seq", "ts", "kind", "agent", "step"}
_CONTENT = {"task", "history", "output", "response", "arguments", "result", "partial"}


def _ns(seconds: float) -> int:
    return int(seconds * _NS)


def _flat(prefix: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """OTel attributes are scalars or lists of scalars; anything else goes as JSON text."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SKIP or value is None:
            continue
        name = f"{prefix}.{key}"
        if isinstance(value, bool | int | float | str):
            out[name] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            out[name] = list(value)
        else:
            out[name] = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return out


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def _answer_text(response: Mapping[str, Any] | None) -> str | None:
    text = (response or {}).get("text")
    return text if isinstance(text, str) else None


def _failed(span: Span, error_type: str | None) -> None:
    span.set_attribute("error.type", error_type or "error")
    span.set_status(Status(StatusCode.ERROR, error_type or "error"))


class SpanWriter:
    """A trace sink that turns each run's events into OpenTelemetry spans as they arrive.

    ``tracer``: where spans go (default: the global provider's). ``content``: also send the
    task, answers and tool arguments and results (redacted as the trace is). Runs that share
    the writer are kept apart by run id; `close` ends the root span of any run still open and
    shuts down a provider the writer was built with (see `otlp`).
    """

    def __init__(
        self,
        tracer: Tracer | None = None,
        *,
        content: bool = False,
        provider: Any = None,
    ) -> None:
        self.tracer = tracer or otel_trace.get_tracer("agentroute")
        self.content = content
        self.spans = 0
        self._provider = provider
        self._roots: dict[str, Span] = {}
        self._write: dict[str, Callable[[Span, dict[str, Any]], None]] = {
            "model_call": self._chat,
            "tool_call": self._tool,
        }

    def write(self, record: dict[str, Any]) -> None:
        kind, run_id = record.get("kind"), record.get("run_id", "")
        if kind == "run_start":
            self._start(record)
            return
        root = self._roots.get(run_id)
        if root is None:
            return  # a run that started before the writer joined
        if kind == "run_end":
            self._end(self._roots.pop(run_id), record)
            return
        self._write.get(str(kind), self._event)(root, record)

    def close(self) -> None:
        for root in self._roots.values():
            root.end()
        self._roots.clear()
        if self._provider is not None:
            self._provider.shutdown()

    def __enter__(self) -> SpanWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def flush(self) -> None:
        """Send what the provider this writer was built with still holds."""
        if self._provider is not None:
            self._provider.force_flush()

    # -- one method per kind of record ------------------------------------------------------
    def _start(self, r: dict[str, Any]) -> None:
        agents = ",".join(r.get("agents") or ())
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agents,
            "agentroute.run_id": r["run_id"],
            "agentroute.router": r.get("router", ""),
        }
        if r.get("budget_usd"):
            attributes["agentroute.budget.limit_usd"] = r["budget_usd"]
        if self.content:
            attributes["gen_ai.input.messages"] = _messages("user", r.get("task", ""))
        self._roots[r["run_id"]] = self.tracer.start_span(
            f"invoke_agent {agents}", kind=SpanKind.INTERNAL, start_time=_ns(r["ts"]),
            attributes=attributes,
        )  # fmt: skip
        self.spans += 1

    def _end(self, root: Span, r: dict[str, Any]) -> None:
        root.set_attributes(_flat("agentroute.run", {
            "status": r["status"], "cost_usd": r["cost_usd"], "model_calls": r["model_calls"],
        }))  # fmt: skip
        root.set_attribute("gen_ai.usage.input_tokens", r["input_tokens"])
        root.set_attribute("gen_ai.usage.output_tokens", r["output_tokens"])
        if self.content and r.get("output") is not None:
            root.set_attribute("gen_ai.output.messages", _messages("assistant", r["output"]))
        if r["status"] == "error":
            _failed(root, r.get("error_type"))
        root.end(end_time=_ns(r["ts"]))

    def _child(self, root: Span, name: str, r: dict[str, Any], **attributes: Any) -> Span:
        self.spans += 1
        return self.tracer.start_span(
            name, context=otel_trace.set_span_in_context(root),
            kind=SpanKind.CLIENT if name.startswith("chat") else SpanKind.INTERNAL,
            start_time=_ns(r["ts"] - r["latency_s"]), attributes=attributes,
        )  # fmt: skip

    def _chat(self, root: Span, r: dict[str, Any]) -> None:
        span = self._child(
            root, f"chat {r['model']}", r,
            **{"gen_ai.operation.name": "chat", "gen_ai.provider.name": r["provider"],
               "gen_ai.request.model": r["model"],
               "gen_ai.usage.input_tokens": r.get("input_tokens", 0),
               "gen_ai.usage.output_tokens": r.get("output_tokens", 0),
               "agentroute.purpose": r.get("purpose", "answer"),
               "agentroute.attempt": r["attempt"], "agentroute.cost_usd": r.get("cost_usd", 0.0)},
        )  # fmt: skip
        if r.get("agent"):
            span.set_attribute("gen_ai.agent.name", r["agent"])
        if r.get("tier"):
            span.set_attribute("agentroute.tier", r["tier"])
        text = _answer_text(r.get("response")) if self.content else None
        if text:
            span.set_attribute("gen_ai.output.messages", _messages("assistant", text))
        if not r["ok"]:
            _failed(span, r.get("error_type"))
        span.end(end_time=_ns(r["ts"]))

    def _tool(self, root: Span, r: dict[str, Any]) -> None:
        span = self._child(
            root, f"execute_tool {r['tool']}", r,
            **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": r["tool"],
               "gen_ai.tool.call.id": r["call_id"]},
        )  # fmt: skip
        if self.content:
            span.set_attribute("gen_ai.tool.call.arguments", json.dumps(r.get("arguments", {})))
            if r.get("result") is not None:
                span.set_attribute("gen_ai.tool.call.result", r["result"])
        if not r["ok"]:
            _failed(span, "ToolError")
        span.end(end_time=_ns(r["ts"]))

    def _event(self, root: Span, r: dict[str, Any]) -> None:
        kind = r["kind"]
        data = r if self.content else {k: v for k, v in r.items() if k not in _CONTENT}
        root.add_event(
            f"agentroute.{kind}", attributes=_flat(f"agentroute.{kind}", data),
            timestamp=_ns(r["ts"]),
        )  # fmt: skip


def otlp(
    endpoint: str = "http://127.0.0.1:4318/v1/traces",
    *,
    headers: Mapping[str, str] | None = None,
    content: bool = False,
    service: str = "agentroute",
    flush_every_s: float = 1.0,
) -> SpanWriter:
    """A `SpanWriter` that sends spans over OTLP/HTTP to ``endpoint`` (a collector, Jaeger,
    Phoenix, Tempo...), batched and sent at least every ``flush_every_s`` seconds from a
    background thread. Close it (or ``with otlp(...) as writer:``) to send what is left."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=endpoint, headers=dict(headers or {}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=int(flush_every_s * 1000))
    )
    return SpanWriter(provider.get_tracer("agentroute"), content=content, provider=provider)


def send_otlp(trace: Trace, endpoint: str, *, content: bool = False) -> int | None:
    """Send a saved trace's spans to an OTLP/HTTP ``endpoint`` in one request. Returns the
    number of spans sent, or None when the collector did not take them."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    export(trace, provider.get_tracer("agentroute"), content=content)
    spans = memory.get_finished_spans()
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=10)
    try:
        ok = exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    return len(spans) if ok else None


def export(trace: Trace, tracer: Tracer | None = None, *, content: bool = False) -> int:
    """Write a saved trace's spans through ``tracer`` (default: the global provider's).
    Returns the number of spans created."""
    writer = SpanWriter(tracer, content=content)
    for event in trace:
        writer.write(event.model_dump(mode="json"))
    writer.close()
    return writer.spans
