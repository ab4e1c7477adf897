"""FLORA connections: the one place an `AsyncFlora` is made.

The server's own connection is the real FLORA API when FLORA_API_KEY is set, else the built-in
backend, started here and reached in-process: the table's requests call the very endpoints its
HTTP routes call (`Backend.in_process()`: the same key check, argument parsing, handler, answer
check and JSON bytes, without the ASGI round trip), and the rest (an upload's bytes) goes through
httpx's ASGI transport. A tenant with its own key gets its own connection, made once and kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from client_surface import AsyncFlora
from runtime.errors import FloraUnconfigured
from runtime.settings import Settings
from runtime.tenancy.tenants import Tenant

BACKEND_BASE_URL = "http://backend/api/v1"


class FloraConnections:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mode = "upstream" if settings.flora_api_key else "builtin"
        self.backend: Any = None  # flora_backend.Backend when it is the embedded default
        self.dev_credentials: tuple[str, str] | None = None  # its (workspace id, key)
        self.server: AsyncFlora | None = None
        self._tenants: dict[str, tuple[AsyncFlora, str]] = {}

    async def start(self) -> None:
        if self.settings.flora_api_key:
            self.server = self._connect(self.settings.flora_api_key, builtin=False)
            return
        from flora_backend import Backend

        self.backend = Backend(self.settings)
        await self.backend.start()
        workspace_id, key = await self.backend.default_credentials()
        self.dev_credentials = (workspace_id, key)
        self.server = self._connect(key, builtin=True)

    async def stop(self) -> None:
        for flora in [self.server, *(flora for flora, _ in self._tenants.values())]:
            if flora is not None:
                with contextlib.suppress(Exception):
                    await flora.aclose()
        self._tenants.clear()
        self.server = None
        if self.backend is not None:
            await self.backend.stop()
            self.backend = None

    def for_tenant(
        self, tenant: Tenant, key_of: Callable[[Tenant], str | None]
    ) -> tuple[AsyncFlora, tuple[str, ...]]:
        """The tenant's connection and the secrets to scrub from what its scripts see."""
        if tenant.flora_kind == "server":
            assert self.server is not None, "start() first"
            return self.server, (self.settings.flora_api_key or "",)
        cached = self._tenants.get(tenant.id)
        if cached is None:
            key = key_of(tenant)
            if not key:
                raise FloraUnconfigured("this tenant has no FLORA key")
            if tenant.flora_kind == "builtin" and self.backend is None:
                raise FloraUnconfigured(
                    "this tenant uses the built-in backend, which this server does not run "
                    "(FLORA_API_KEY is set)"
                )
            cached = self._tenants[tenant.id] = (
                self._connect(key, builtin=tenant.flora_kind == "builtin"),
                key,
            )
        flora, key = cached
        return flora, (self.settings.flora_api_key or "", key)

    def _connect(self, key: str, *, builtin: bool) -> AsyncFlora:
        if builtin:
            return AsyncFlora(
                api_key=key,
                base_url=BACKEND_BASE_URL,
                transport=self.backend.transport(),
                in_process=self.backend.in_process(),
            )
        return AsyncFlora(api_key=key, base_url=self.settings.flora_base_url)
