"""MCP over streamable HTTP at `/mcp` on the runtime's app: a bearer check on every request,
then the SDK's stateless session manager, which the app's lifespan runs.

The tenant the check finds is put in the request's scope, where `request_tenant` reads it for
the `execute` tool.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from runtime.adapters.errors import ErrorReport, report
from runtime.errors import Unauthenticated
from runtime.settings import Settings
from runtime.tenancy.tenants import Tenant

Authenticator = Callable[[Scope], Awaitable[Tenant]]  # raises Unauthenticated, saying why


def request_tenant(ctx: Any) -> Tenant | None:
    """The tenant `McpHttpApp` put in the HTTP request's scope, or None."""
    request = getattr(ctx, "request", None)
    scope = getattr(request, "scope", None) or {}
    tenant: Tenant | None = (scope.get("state") or {}).get("tenant")
    return tenant


def scope_authorization(scope: Scope) -> str | None:
    """The `Authorization` header of an ASGI scope, or None."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            text: str = value.decode("latin-1")
            return text
    return None


def http_session_manager(server: Server, settings: Settings) -> StreamableHTTPSessionManager:
    """A stateless session manager (nothing persists between calls, any worker can answer).

    On a loopback host, Host and Origin headers are checked against loopback names
    (DNS-rebinding protection), as the SDK does for its own apps.
    """
    security = None
    if settings.host in ("127.0.0.1", "localhost", "::1"):
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    return StreamableHTTPSessionManager(
        app=server, stateless=True, json_response=True, security_settings=security
    )


class McpHttpApp:
    """ASGI app for `/mcp`: checks the request with `authenticate`, then hands it to the
    session manager that the app's lifespan runs (`get_manager()` returns it, or None before)."""

    def __init__(
        self,
        get_manager: Callable[[], StreamableHTTPSessionManager | None],
        authenticate: Authenticator,
    ) -> None:
        self.get_manager = get_manager
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            tenant = await self.authenticate(scope)
        except Unauthenticated as refused:  # no key, or an unknown, expired or revoked one
            await _send(send, report(refused))
            return
        scope.setdefault("state", {})["tenant"] = tenant
        manager = self.get_manager()
        if manager is None:
            starting = ErrorReport(503, "starting", "the MCP endpoint is not running yet")
            await _send(send, starting)
            return
        await manager.handle_request(scope, receive, send)


async def _send(send: Send, error: ErrorReport) -> None:
    body = json.dumps(error.envelope()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if error.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
