"""Runtime API keys: `Authorization: Bearer trk_...` on `/v1/*` and `/mcp`, each mapped to a
tenant. `/healthz`, `/readyz`, `/metrics` and the built-in backend's `/api` (which has its own
sk_ keys) are outside it. With `TERRARIUM_AUTH=off` every request is served as the default
tenant (for local tools and tests of other concerns).
"""

from __future__ import annotations

from runtime.tenancy.tenants import Tenant, TenantStore

MISSING_KEY = (
    "a valid runtime API key is required: send `Authorization: Bearer trk_...` "
    "(`terrarium serve` prints one; `terrarium tenants create` makes more)"
)


def bearer_token(header_value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, or None."""
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class BearerAuth:
    """Which tenant an `Authorization` header value names."""

    def __init__(self, tenants: TenantStore, default: Tenant | None, required: bool) -> None:
        self.tenants = tenants
        self.default = default
        self.required = required

    async def tenant(self, header_value: str | None) -> Tenant | None:
        """The tenant, or None (missing, malformed, revoked)."""
        if not self.required:
            return self.default
        token = bearer_token(header_value)
        if token is None:
            return None
        return await self.tenants.authenticate(token)
