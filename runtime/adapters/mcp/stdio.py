"""`terrarium mcp`: one client over stdin/stdout, served as the default tenant, so every
execution is admitted and recorded as over HTTP."""

from __future__ import annotations

from typing import Any

from runtime.adapters.mcp.tools import build_mcp_server
from runtime.executions.service import Executions
from runtime.settings import Settings


async def serve_stdio(settings: Settings) -> None:
    """Serve MCP on stdin/stdout with an executions service of its own.

    The service starts inside the stdio transport, which points fd 1 at stderr while it
    serves, so nothing the sandbox processes write can reach the protocol stream.
    """
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        executions = Executions(settings)
        await executions.start()
        try:

            def default_tenant(ctx: Any) -> Any:
                return executions.default_tenant

            server = build_mcp_server(executions, default_tenant)
            await server.run(read_stream, write_stream, server.create_initialization_options())
        finally:
            await executions.stop()
