"""The app factory: `create_app(settings)` builds the runtime's FastAPI app.

It starts the execution service (sandbox pool and FLORA connection) in its lifespan, mounts the
built-in backend at `/api` when it is the embedded default (so output URLs are downloadable from
the same server), serves MCP over streamable HTTP at `/mcp` (runtime/mcp_server.py), and
installs the routers and the one error envelope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from runtime import auth
from runtime.api import errors, execute, executions, meta, ops
from runtime.mcp_server import McpHttpApp, build_mcp_server, http_session_manager
from runtime.operator import Operator
from runtime.service import Terrarium
from runtime.settings import Settings


def create_app(settings: Settings | None = None, terrarium: Terrarium | None = None) -> FastAPI:
    settings = settings or Settings()
    terrarium = terrarium or Terrarium(settings)
    operator = Operator(terrarium)
    mcp = build_mcp_server(terrarium, operator)  # per-tenant runs, as /v1/execute

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await terrarium.start()
        if terrarium.backend is not None:
            app.mount("/api", terrarium.backend.app)
        try:
            await operator.start()  # tenants, records, heartbeat (runtime/operator.py)
        except BaseException:
            await terrarium.stop()
            raise
        auth.bind(operator)
        if app.state.announce_key and operator.default_key:
            print(f"Runtime API key (tenant default): {operator.default_key}", flush=True)
        # MCP over streamable HTTP at /mcp; a session manager runs only once, so one per start.
        app.state.mcp_manager = http_session_manager(mcp, settings)
        try:
            async with app.state.mcp_manager.run():
                yield
        finally:
            app.state.mcp_manager = None
            await operator.stop()
            await terrarium.stop()

    app = FastAPI(
        title="Terrarium",
        version="0.1.0",
        summary="Run agents' Python scripts against FLORA's client surface, in a fresh sandbox.",
        lifespan=lifespan,
    )
    app.state.terrarium = terrarium
    app.state.settings = settings
    app.state.operator = operator
    app.state.announce_key = False  # `terrarium serve` prints the default tenant's key
    errors.install(app)
    app.include_router(execute.router)
    app.include_router(meta.router)
    app.include_router(executions.router)
    app.include_router(ops.router)
    app.state.mcp_manager = None
    mcp_app = McpHttpApp(lambda: app.state.mcp_manager, auth.authenticate_scope)
    app.add_route("/mcp", mcp_app, include_in_schema=False)
    return app
