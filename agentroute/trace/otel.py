"""Export a trace to OpenTelemetry, following the GenAI semantic conventions.

One ``invoke_agent`` span per run, a ``chat`` span per model-call attempt and an
``execute_tool`` span per tool call, with ``gen_ai.*`` attributes. The facts the conventions
have no names for (routes, model switches, budget reserve and settle, reweighting, reroutes,
health signals, escalations) become span events under ``agentroute.*``. Needs the ``otel``
extra (``opentelemetry-sdk``); bring your own exporter through a tracer provider.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from agentroute.events import ModelCallEvent, RunEnd, RunStart, ToolCallEvent
from agentroute.trace.tracer import Trace

_NS = 1_000_000_000
_SKIP = {"v", "run_id", "seq", "ts", "kind", "agent", "step"}


def _ns(seconds: float) -> int:
    return int(seconds * _NS)


def _flat(prefix: str, data: dict[str, Any]) -> dict[str, Any]:
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


def export(trace: Trace, tracer: Tracer | None = None) -> int:
    """Emit the trace's spans through ``tracer`` (default: the global provider's). Returns the
    number of spans created."""
    tracer = tracer or otel_trace.get_tracer("agentroute")
    starts = trace.events(RunStart)
    ends = trace.events(RunEnd)
    if not starts:
        return 0
    start, end = starts[0], (ends[-1] if ends else None)
    root = tracer.start_span(
        "invoke_agent " + ",".join(start.agents),
        kind=SpanKind.INTERNAL,
        start_time=_ns(start.ts),
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": ",".join(start.agents),
            "agentroute.run_id": start.run_id,
            "agentroute.router": start.router,
            **({"agentroute.budget.limit_usd": start.budget_usd} if start.budget_usd else {}),
        },
    )
    ctx = otel_trace.set_span_in_context(root)
    count = 1
    for e in trace:
        if isinstance(e, ModelCallEvent):
            span = tracer.start_span(
                f"chat {e.model}", context=ctx, kind=SpanKind.CLIENT,
                start_time=_ns(e.ts - e.latency_s),
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": e.provider,
                    "gen_ai.request.model": e.model,
                    "gen_ai.usage.input_tokens": e.input_tokens,
                    "gen_ai.usage.output_tokens": e.output_tokens,
                    **({"gen_ai.agent.name": e.agent} if e.agent else {}),
                    **({"error.type": e.error_type} if e.error_type else {}),
                    "agentroute.purpose": e.purpose,
                    "agentroute.attempt": e.attempt,
                    "agentroute.cost_usd": e.cost_usd,
                    **({"agentroute.tier": e.tier} if e.tier else {}),
                },
            )  # fmt: skip
            if not e.ok:
                span.set_status(Status(StatusCode.ERROR, e.error_type or "error"))
            span.end(end_time=_ns(e.ts))
            count += 1
        elif isinstance(e, ToolCallEvent):
            span = tracer.start_span(
                f"execute_tool {e.tool}", context=ctx, start_time=_ns(e.ts - e.latency_s),
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": e.tool,
                            "gen_ai.tool.call.id": e.call_id,
                            **({"error.type": "ToolError"} if not e.ok else {})},
            )  # fmt: skip
            if not e.ok:
                span.set_status(Status(StatusCode.ERROR, "ToolError"))
            span.end(end_time=_ns(e.ts))
            count += 1
        elif not isinstance(e, RunStart | RunEnd):
            root.add_event(
                f"agentroute.{e.kind}",
                attributes=_flat(f"agentroute.{e.kind}", e.model_dump(mode="json")),
                timestamp=_ns(e.ts),
            )
    if end is not None:
        root.set_attributes(_flat("agentroute.run", {
            "status": end.status, "cost_usd": end.cost_usd, "model_calls": end.model_calls,
        }))  # fmt: skip
        root.set_attribute("gen_ai.usage.input_tokens", end.input_tokens)
        root.set_attribute("gen_ai.usage.output_tokens", end.output_tokens)
        if end.status == "error":
            root.set_attribute("error.type", end.error_type or "error")
            root.set_status(Status(StatusCode.ERROR, end.error_type or "error"))
        root.end(end_time=_ns(end.ts))
    else:
        root.end()
    return count
