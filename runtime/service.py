"""The one path every execution takes, whoever asks (HTTP, MCP, the CLI).

`Terrarium` owns the long-lived parts: the sandbox pool, the FLORA connection (the real API or
the built-in backend) and the limits. `execute()` checks a request's limits against the
operator's maxima, runs the script on a fresh child with the `client` host function, and returns
the response body. Everything else (auth, recording, async runs) wraps this one call.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, replace
from typing import Any

from client_surface import AsyncFlora
from client_surface.table import sandbox_spec
from runtime.flora import ClientCalls
from runtime.schemas import safe_body
from runtime.settings import Settings
from sandbox import isolation
from sandbox.limits import LimitError, Limits
from sandbox.pool import WarmPool

log = logging.getLogger("terrarium")


class RequestRejected(Exception):
    """A request the API refuses before running anything (4xx), with a field-level reason."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = [{"field": field, "message": message}] if field else []


def new_execution_id() -> str:
    return "exe_" + secrets.token_hex(12)


@dataclass
class LimitRequest:
    timeout_s: float | None = None
    cpu_s: float | None = None
    memory_mb: int | None = None
    max_calls: int | None = None


def default_limits(settings: Settings) -> tuple[Limits, Limits]:
    """The operator's defaults and the most a request may ask for."""
    defaults = Limits(
        timeout_s=settings.timeout_s,
        cpu_s=settings.cpu_s,
        memory_mb=settings.memory_mb,
        stdout_bytes=settings.stdout_bytes,
        result_bytes=settings.result_bytes,
        max_calls=settings.max_calls,
        code_bytes=settings.code_bytes,
    )
    maxima = replace(
        defaults,
        timeout_s=settings.max_timeout_s,
        cpu_s=settings.max_cpu_s,
        memory_mb=settings.max_memory_mb,
    )
    return defaults, maxima


class Terrarium:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.defaults, self.maxima = default_limits(self.settings)
        self.pool = WarmPool(
            sandbox_spec(),
            size_max=self.settings.pool_max,
            warm=self.settings.pool_warm,
            queue_max=self.settings.queue_max,
        )
        self.backend: Any = None
        self.flora: AsyncFlora | None = None
        self.flora_mode = "upstream" if self.settings.flora_api_key else "builtin"
        self.dev_credentials: tuple[str, str] | None = None

    async def start(self) -> None:
        if self.settings.flora_api_key:
            self.flora = AsyncFlora(
                api_key=self.settings.flora_api_key, base_url=self.settings.flora_base_url
            )
        else:
            from runtime.backend import Backend

            self.backend = Backend(self.settings)
            await self.backend.start()
            workspace_id, key = await self.backend.default_credentials()
            self.dev_credentials = (workspace_id, key)
            self.flora = AsyncFlora(
                api_key=key, base_url="http://backend/api/v1", transport=self.backend.transport()
            )
        await self.pool.start()
        statuses = {
            name: isolation.LayerStatus(name, info.get("active", False), info.get("detail", ""))
            for name, info in self.pool.layers.items()
        }
        inactive = [s for s in statuses.values() if not s.active]
        for status in inactive:
            log.warning("ISOLATION LAYER NOT ACTIVE: %s (%s)", status.name, status.detail)
        if self.settings.require_isolation:
            try:
                isolation.check_required(statuses, self.settings.require_isolation)
            except RuntimeError:
                await self.stop()
                raise

    async def stop(self) -> None:
        await self.pool.stop()
        if self.flora is not None:
            await self.flora.aclose()
        if self.backend is not None:
            await self.backend.stop()

    def limits_for(
        self,
        request: LimitRequest,
        defaults: Limits | None = None,
        maxima: Limits | None = None,
    ) -> Limits:
        """The request's limits over `defaults`, refused (422, naming the field) above `maxima`;
        the operator's own unless a caller (a tenant's admission) passes tighter ones."""
        try:
            return (defaults or self.defaults).override(
                maxima or self.maxima,
                timeout_s=request.timeout_s,
                cpu_s=request.cpu_s,
                memory_mb=request.memory_mb,
                max_calls=request.max_calls,
            )
        except LimitError as exc:
            raise RequestRejected(422, "limit_above_maximum", str(exc), exc.field) from None

    def check_code(self, code: str, limits: Limits) -> None:
        try:
            size = len(code.encode())
        except UnicodeEncodeError as exc:
            raise RequestRejected(
                422,
                "invalid_code",
                f"the code holds a lone surrogate at character {exc.start}, which is not text "
                "UTF-8 can carry; send the script as plain UTF-8 text",
                "code",
            ) from None
        if size > limits.code_bytes:
            raise RequestRejected(
                413,
                "code_too_large",
                f"the code is {size} bytes, over the {limits.code_bytes}-byte limit",
                "code",
            )
        if not code.strip():
            raise RequestRejected(422, "empty_code", "the code is empty", "code")

    async def execute(
        self,
        code: str,
        *,
        inputs: dict[str, Any] | None = None,
        limits: Limits | None = None,
        execution_id: str | None = None,
        flora: AsyncFlora | None = None,
        workspaces: frozenset[str] | None = None,
        secrets: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        limits = limits or self.defaults
        self.check_code(code, limits)
        flora = flora or self.flora
        assert flora is not None, "start() first"
        calls = ClientCalls(
            flora,
            secrets=(self.settings.flora_api_key or "", *secrets),
            workspaces=workspaces,
        )
        result = await self.pool.execute(
            code, inputs=inputs, limits=limits, host_functions={"client": calls}
        )
        body = result.to_json()
        body["calls"] = calls.records
        body["execution_id"] = execution_id or new_execution_id()
        return safe_body(body)  # what a child sent is checked here, once, for every reader

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.pool.health()["zygote_alive"] else "degraded",
            "pool": self.pool.health(),
            "isolation": self.pool.layers,
            "flora": self.flora_mode,
        }
