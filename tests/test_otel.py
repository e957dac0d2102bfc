"""OpenTelemetry export with the GenAI semantic conventions, into the SDK's in-memory exporter."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentroute import Agent, Pipeline, tool
from agentroute.testing import Fail, FakeModelServer, Reply
from agentroute.trace.otel import export
from tests.conftest import fake_model, run_cli


def _run(server: FakeModelServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    @tool
    def lookup(order_id: str) -> str:
        """Find an order."""
        return "found"

    agent = Agent("billing", "refunds", tools=[lookup], models=[fake_model(server)])
    server.script(
        Fail(500),
        Reply("", tool_calls=(("lookup", {"order_id": "1"}),), usage=(30, 4)),
        Reply("refunded", usage=(50, 6)),
    )
    return Pipeline([agent], budget_usd=1.0, trace_dir=tmp_path).run("refund order 1")


def test_spans_follow_the_genai_conventions(server: FakeModelServer, tmp_path: Path) -> None:
    result = _run(server, tmp_path)
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    assert export(result.trace, provider.get_tracer("test")) == 5
    spans = {s.name: s for s in memory.get_finished_spans()}
    root = spans["invoke_agent billing"]
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.usage.input_tokens"] == 80
    chats = [s for s in memory.get_finished_spans() if s.name == "chat openai:m"]
    assert len(chats) == 3
    failed = chats[0]
    assert failed.attributes["error.type"] == "ServerError"
    assert failed.status.status_code.name == "ERROR"
    ok = chats[1]
    assert ok.attributes["gen_ai.provider.name"] == "openai"
    assert ok.attributes["gen_ai.request.model"] == "openai:m"
    assert ok.attributes["gen_ai.usage.input_tokens"] == 30
    assert ok.attributes["gen_ai.agent.name"] == "billing"
    assert ok.parent is not None and ok.parent.span_id == root.context.span_id
    tool_span = spans["execute_tool lookup"]
    assert tool_span.attributes["gen_ai.tool.name"] == "lookup"
    names = [e.name for e in root.events]
    assert "agentroute.route" in names and "agentroute.budget_reserve" in names
    assert "agentroute.retry" in names
    reserve = next(e for e in root.events if e.name == "agentroute.budget_reserve")
    assert reserve.attributes["agentroute.budget_reserve.limit_usd"] == 1.0
    assert all(s.end_time >= s.start_time for s in memory.get_finished_spans())


def test_cli_export_prints_json_spans(server: FakeModelServer, tmp_path: Path) -> None:
    result = _run(server, tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "agentroute.cli", "trace", "export", str(result.trace_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    spans = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert {s["name"] for s in spans} >= {
        "invoke_agent billing",
        "chat openai:m",
        "execute_tool lookup",
    }


def test_cli_says_so_when_the_collector_does_not_take_the_spans(
    server: FakeModelServer, tmp_path: Path
) -> None:
    result = _run(server, tmp_path)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run_cli(
        "trace", "export", str(result.trace_path), "--otlp", f"http://127.0.0.1:{port}/v1/traces"
    )
    assert out.returncode != 0
    assert "did not take the spans" in out.stderr + out.stdout
