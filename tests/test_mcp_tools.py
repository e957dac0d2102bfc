"""MCP tools on the engine: a real MCP server (stdio, started by the test) lends its tools to
an agent; a server that dies mid-run fails its calls, and the breaker takes its tools out."""

from __future__ import annotations

import sys
from typing import Any

from agentroute import Agent, Model, Pipeline
from agentroute.events import ToolCallEvent
from agentroute.health import CircuitBreakerMonitor
from agentroute.mcp_tools import McpTools
from agentroute.testing import FakeModelServer, Reply
from tests.conftest import FAST_RETRY, ROOT, run

SERVER = str(ROOT / "tests" / "mcp_servers" / "orders.py")


def tools_offered(body: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools", ())]


def test_an_agent_calls_a_tool_of_a_real_mcp_server(server: FakeModelServer) -> None:
    server.script(Reply("", tool_calls=(("order_status", {"order_id": "7"}),)),
                  Reply("Order 7 was delivered yesterday."))  # fmt: skip

    async def go() -> Any:
        async with McpTools.stdio(sys.executable, SERVER) as orders:
            assert {t.name for t in orders.tools} == {"order_status", "crash"}
            model = Model.openai_compatible(server.url, "m", retry=FAST_RETRY)
            agent = Agent("orders", "order status", models=[model], tools=orders.tools)
            pipeline = Pipeline([agent])
            try:
                return await pipeline.arun("where is order 7?")
            finally:
                await pipeline.aclose()

    result = run(go())
    assert result.output == "Order 7 was delivered yesterday."
    (call,) = result.trace.events(ToolCallEvent)
    assert call.ok and call.result == '"order 7: delivered yesterday"'
    first = server.calls()[0].body
    assert "order_status" in tools_offered(first)
    spec = next(t for t in first["tools"] if t["function"]["name"] == "order_status")
    assert spec["function"]["parameters"]["required"] == ["order_id"]  # the server's schema


def test_a_server_that_dies_mid_run_fails_its_calls_and_its_tools_are_taken_out(
    server: FakeModelServer,
) -> None:
    server.script(
        Reply("", tool_calls=(("crash", {}),)),  # the server goes down here
        Reply("", tool_calls=(("order_status", {"order_id": "7"}),)),
        Reply("I cannot reach the order system right now."),
    )

    async def go() -> Any:
        async with McpTools.stdio(sys.executable, SERVER) as orders:
            model = Model.openai_compatible(server.url, "m", retry=FAST_RETRY)
            agent = Agent("orders", "order status", models=[model], tools=orders.tools)
            pipeline = Pipeline([agent], monitors=[CircuitBreakerMonitor(failure_threshold=1)])
            try:
                return await pipeline.arun("where is order 7?")
            finally:
                await pipeline.aclose()

    result = run(go())
    assert result.output == "I cannot reach the order system right now."
    calls = result.trace.events(ToolCallEvent)
    assert [c.ok for c in calls] == [False, False] and all(c.error for c in calls)
    assert "crash" not in tools_offered(server.calls()[-1].body)  # healed around: down
