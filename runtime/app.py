"""The app factory: `create_app(settings)` builds the runtime's FastAPI app.

It composes the executions service (runtime/executions/service.py) with its adapters: the HTTP
routers and error handlers (runtime/adapters/http/) and MCP over streamable HTTP at `/mcp`
(runtime/adapters/mcp/). The lifespan starts the service, mounts the built-in backend at `/api`
when it is the embedded default (so output URLs are downloadable from the same server), and
runs the MCP session manager. Every `/v1` and `/mcp` request passes the door first
(runtime/adapters/http/door.py: request id, body cap, content type, access log, HTTP metrics).
Tests pass their own settings, or a service of their own.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Scope

from runtime.adapters import console
from runtime.adapters.http import admin, errors, execute, executions, meta, ops
from runtime.adapters.http.door import Door
from runtime.adapters.mcp.http import (
    McpHttpApp,
    http_session_manager,
    request_tenant,
    scope_authorization,
)  # fmt: skip
from runtime.adapters.mcp.tools import build_mcp_server
from runtime.executions.service import Executions
from runtime.settings import Settings
from runtime.tenancy.tenants import Tenant

log = logging.getLogger("terrarium")

AUTH_OFF_WARNING = (
    "WARNING: TERRARIUM_AUTH is off: every request to /v1 and /mcp runs as the default tenant, "
    "with no key. Anyone who can reach this port can run code and spend its FLORA credentials. "
    "Use this for local tools only."
)


def warn_auth_off() -> None:
    """Loud, on the terminal and in the log: a server with no authentication."""
    banner = "!" * 78
    print(f"{banner}\n{AUTH_OFF_WARNING}\n{banner}", file=sys.stderr, flush=True)
    log.warning(AUTH_OFF_WARNING)


def freeze_started_heap() -> None:
    """What the started server holds (modules, the app, the service, their caches) is left out
    of every later collection: a full collection, which pauses the event loop, then walks only
    what was made since, not the whole start-up heap again."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, service: Executions | None = None) -> FastAPI:
    settings = settings or Settings()
    service = service or Executions(settings)
    mcp = build_mcp_server(service, request_tenant)  # per-tenant runs, as /v1/execute
    mcp_manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal mcp_manager
        await service.start()
        if service.connections.backend is not None:
            app.mount("/api", service.connections.backend.app)
        if not settings.auth:
            warn_auth_off()
        # `terrarium serve` bound its socket before the app started: announce it now, once
        # everything started; the key only when keys are what lets a request in.
        if app.state.announce:
            print(f"Terrarium listening on {app.state.announce}", flush=True)
            key_line = service.tenants.default_key_line(
                service.default_key, service.default_tenant is not None
            )
            if settings.auth and key_line:  # the key itself only on the start that made it
                print(key_line, flush=True)
            print(f"Console: {app.state.announce}/console (sign in with a runtime key)", flush=True)
            for line in service.tenants.announcement(bool(settings.auth and key_line)):
                print(line, flush=True)
        # A session manager runs only once, so one per start.
        mcp_manager = http_session_manager(mcp, settings)
        try:
            async with mcp_manager.run():
                if app.state.announce:  # `terrarium serve`: this process serves this app alone
                    freeze_started_heap()
                yield
        finally:
            mcp_manager = None
            if app.state.announce:
                gc.unfreeze()
            await service.stop()

    async def authenticate(scope: Scope) -> Tenant:
        return await service.auth.identify(scope_authorization(scope))

    app = FastAPI(
        title="Terrarium",
        version="0.1.0",
        summary="Run agents' Python scripts against FLORA's client surface, in a fresh sandbox.",
        lifespan=lifespan,
        docs_url=None,  # served by the console: Swagger UI from a package, offline
    )
    app.state.executions = service  # read by the dependencies (adapters/http/deps.py) only
    app.state.announce = None  # `terrarium serve`: the URL it listens on (then the key)
    errors.install(app)
    app.add_middleware(Door, settings=settings, metrics=service.metrics, direct=execute.direct_for)
    app.include_router(execute.router)
    app.include_router(meta.router)
    app.include_router(executions.router)
    app.include_router(ops.router)
    app.include_router(admin.router)
    console.install(app)  # /console, /docs and the OpenAPI bearer scheme
    mcp_app = McpHttpApp(lambda: mcp_manager, authenticate)
    # Starlette serves an ASGI app given to add_route as one (it is not a function), but types
    # the argument as a request handler only.
    app.add_route("/mcp", mcp_app, include_in_schema=False)  # type: ignore[arg-type]
    return app
