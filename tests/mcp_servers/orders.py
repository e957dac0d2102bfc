"""A real MCP server for the tests (stdio): order lookups; ``crash`` ends the process, as a
server that dies mid-run would."""

import os

from mcp.server.mcpserver import MCPServer

app = MCPServer("orders")


@app.tool()
def order_status(order_id: str) -> str:
    """Where an order is now."""
    return f"order {order_id}: delivered yesterday"


@app.tool()
def crash() -> str:
    """Stop the server at once (for the tests)."""
    os._exit(1)


if __name__ == "__main__":
    app.run()
