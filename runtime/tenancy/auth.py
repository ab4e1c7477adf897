"""Runtime API keys: `Authorization: Bearer trk_...` on `/v1/*` and `/mcp`, each mapped to a
tenant. `/healthz`, `/readyz`, `/metrics` and the built-in backend's `/api` (which has its own
sk_ keys) are outside it, and `/v1/admin` takes the operator key instead (operator.py). With
`TERRARIUM_AUTH=off` every request is served as the default tenant (for local tools and tests of
other concerns).
"""

from __future__ import annotations

from runtime.tenancy.errors import KeyRefused
from runtime.tenancy.tenants import MISSING_KEY, Tenant, TenantStore

__all__ = ["MISSING_KEY", "BearerAuth", "bearer_token"]


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
        """The tenant, or None (missing, malformed, unknown, expired, revoked)."""
        try:
            return await self.identify(header_value)
        except KeyRefused:
            return None

    async def identify(self, header_value: str | None) -> Tenant:
        """The tenant, or KeyRefused whose message says why not: no key, or an unknown, expired
        or revoked one (nothing about any tenant)."""
        if not self.required:
            if self.default is None:
                raise KeyRefused(MISSING_KEY, "missing")
            return self.default
        token = bearer_token(header_value)
        if token is None:
            raise KeyRefused(MISSING_KEY, "missing")
        return await self.tenants.verify(token)
