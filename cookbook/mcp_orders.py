"""An agent that uses the tools of an MCP server: the order system runs as an MCP server
(stdio, started here), its ``order_status`` tool becomes a tool node of the graph, with the
health monitors and the budget like any tool.

    python cookbook/mcp_orders.py [--task "Where is order 7?"] [--base-url URL --small M --large M]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from _cli import cookbook_parser
from _models import small_and_large
from _replay import report_replays

from agentroute import Agent, Pipeline, Result
from agentroute.events import ToolCallEvent
from agentroute.health import CircuitBreakerMonitor
from agentroute.mcp_tools import McpTools

SERVER = Path(__file__).with_name("_mcp_orders_server.py")


async def ask(args: object, task: str) -> tuple[Pipeline, Result]:
    _, large = small_and_large(args)  # type: ignore[arg-type]
    async with McpTools.stdio(sys.executable, str(SERVER)) as orders:
        agent = Agent("orders", "order status and deliveries", models=[large],
                      tools=orders.tools, max_tokens=160,
                      instructions="Look the order up with order_status, then answer the "
                      "customer in one sentence.")  # fmt: skip
        pipeline = Pipeline([agent], monitors=[CircuitBreakerMonitor()], budget_usd=0.01)
        try:
            return pipeline, await pipeline.arun(task)
        finally:
            await pipeline.aclose()


def main() -> None:
    parser = cookbook_parser(__doc__, task="Where is my order 7?")
    args = parser.parse_args()
    pipeline, result = asyncio.run(ask(args, args.task))
    print(result.output.strip())
    for call in result.trace.events(ToolCallEvent):
        print(f"  [MCP tool {call.tool}({call.arguments}) -> {call.result}]")
    print(f"calls={result.model_calls} cost=${result.cost_usd:.6f}")
    if args.check_replay:  # tool results come from the trace: the server is not needed
        report_replays([lambda: pipeline.replay(result.trace)])


if __name__ == "__main__":
    main()
