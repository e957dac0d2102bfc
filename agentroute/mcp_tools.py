"""Tools from MCP servers (the official ``mcp`` SDK): each tool an MCP server lists becomes an
agentroute `Tool`, a tool node of the graph like any other, with health, cost and the budget.

    async with McpTools.stdio(sys.executable, "orders_server.py") as orders:
        agent = Agent("orders", "order status", models=[model], tools=orders.tools)
        result = await Pipeline([agent]).arun("where is order 7?")

A server that fails or dies mid-run makes its tools' calls fail (`ToolError`, traced, told to
the model); the health monitors see those outcomes and the tools' edges heal around them.
``pip install 'agentroute[mcp]'``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TextIO

from pydantic import ConfigDict, create_model

from agentroute.agents import Tool
from agentroute.errors import ConfigError, ToolError


class McpTools:
    """The tools of one MCP server, for as long as the connection is open (an ``async
    with`` block: the tools call the server through it)."""

    def __init__(self, connect: Any, *, prefix: str = "", cost: float = 0.0) -> None:
        self._connect = connect
        self._prefix = prefix
        self._cost = cost
        self._stack: contextlib.AsyncExitStack | None = None
        self._session: Any = None
        self.tools: list[Tool] = []

    @classmethod
    def stdio(
        cls, command: str, *args: str, env: Mapping[str, str] | None = None, prefix: str = "",
        cost: float = 0.0, log: TextIO | None = None,
    ) -> McpTools:  # fmt: skip
        """A server this process starts and talks to over its standard input and output;
        what it writes to its standard error goes to ``log`` (default: nowhere)."""
        from mcp import StdioServerParameters

        params = StdioServerParameters(command=command, args=list(args),
                                       env=dict(env) if env is not None else None)  # fmt: skip
        return cls(lambda: _stdio(params, log), prefix=prefix, cost=cost)

    @classmethod
    def http(cls, url: str, *, prefix: str = "", cost: float = 0.0) -> McpTools:
        """A server reached over streamable HTTP at ``url``."""
        from mcp.client.streamable_http import streamable_http_client

        return cls(lambda: streamable_http_client(url), prefix=prefix, cost=cost)

    async def __aenter__(self) -> McpTools:
        from mcp import ClientSession

        stack = contextlib.AsyncExitStack()
        try:
            streams = await stack.enter_async_context(self._connect())
            session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
            await session.initialize()
            listed = await session.list_tools()
            self._session = session
            self.tools = [self._tool(t) for t in listed.tools]
        except BaseException:
            self._session = None
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(self, *exc: object) -> None:
        stack, self._stack, self._session = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(Exception):  # a server that died is already gone
                await stack.aclose()

    def _tool(self, listed: Any) -> Tool:
        name = f"{self._prefix}{listed.name}"
        description = (listed.description or "").strip() or f"the {listed.name} tool"

        async def call(**arguments: Any) -> Any:
            return await self._call(listed.name, arguments)

        open_args = create_model(f"{name}_args", __config__=ConfigDict(extra="allow"))
        try:
            return Tool(name=name, description=description, fn=call, args_model=open_args,
                        cost=self._cost, schema=dict(listed.input_schema))  # fmt: skip
        except ConfigError as exc:
            raise ConfigError(f"MCP tool {listed.name!r}: {exc}") from exc

    async def _call(self, name: str, arguments: dict[str, Any]) -> Any:
        """One call on the server: its structured result, or its text; an error result or a
        lost connection is a `ToolError`."""
        if self._session is None:
            raise ToolError(f"MCP tool {name!r}: the server connection is closed", tool=name)
        result = await self._session.call_tool(name, arguments)
        text = "\n".join(_texts(result.content))
        if result.is_error:
            raise ToolError(f"MCP tool {name!r} failed: {text[:300]}", tool=name)
        structured = getattr(result, "structured_content", None)
        if isinstance(structured, dict) and set(structured) == {"result"}:
            return structured["result"]
        return structured if structured is not None else text


@contextlib.asynccontextmanager
async def _stdio(params: Any, log: TextIO | None) -> AsyncIterator[Any]:
    from mcp.client.stdio import stdio_client

    with contextlib.ExitStack() as files:
        if log is None:  # /dev/null opens at once: nothing here blocks the loop
            log = files.enter_context(open(os.devnull, "w"))  # noqa: ASYNC230
        async with stdio_client(params, errlog=log) as streams:
            yield streams


def _texts(content: Sequence[Any]) -> list[str]:
    return [str(c.text) for c in content if getattr(c, "text", None) is not None]
