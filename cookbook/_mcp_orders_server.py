"""An MCP server (stdio) for cookbook/mcp_orders.py: the order system's lookups."""

from mcp.server.mcpserver import MCPServer

app = MCPServer("orders")


@app.tool()
def order_status(order_id: str) -> str:
    """Where an order is now."""
    return f"order {order_id}: delivered yesterday"


if __name__ == "__main__":
    app.run()
