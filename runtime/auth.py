"""Runtime API keys: `Authorization: Bearer trk_...` on `/v1/*` and `/mcp`, each mapped to a
tenant. `/healthz`, `/readyz`, `/metrics` and the built-in backend's `/api` (which has its own
sk_ keys) are outside it.

`require_tenant` is the FastAPI dependency; `authenticate_bearer(header_value)` is the same
check as a plain function, for the MCP mount. With `TERRARIUM_AUTH=off` every request is served
as the default tenant (for local tools and tests of other concerns).
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from runtime.tenants import Tenant

_operator = None  # the running app's Operator, for authenticate_bearer


def bind(operator) -> None:
    global _operator
    _operator = operator


def _bearer(header_value: str | None) -> str | None:
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate_bearer(header_value: str | None, operator=None) -> Tenant | None:
    """The tenant an `Authorization` header value names, or None (missing, malformed, revoked)."""
    operator = operator or _operator
    if operator is None:
        return None
    if not operator.settings.auth:
        return operator.default_tenant
    token = _bearer(header_value)
    if token is None:
        return None
    return await operator.authenticate(token)


async def require_tenant(request: Request) -> Tenant:
    operator = request.app.state.operator
    tenant = await authenticate_bearer(request.headers.get("authorization"), operator)
    if tenant is None:
        raise HTTPException(
            401,
            "a valid runtime API key is required: send `Authorization: Bearer trk_...` "
            "(`terrarium serve` prints one; `terrarium tenants create` makes more)",
            headers={"www-authenticate": "Bearer"},
        )
    request.state.tenant = tenant
    return tenant


async def authenticate_scope(scope) -> Tenant | None:
    """The same check on an ASGI scope (the `/mcp` mount's authenticate hook)."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            return await authenticate_bearer(value.decode("latin-1"))
    return await authenticate_bearer(None)
