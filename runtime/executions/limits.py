"""The limit policy: an execution's limits from the operator's defaults and maxima, the
tenant's caps and what the request asks for, decided in one function."""

from __future__ import annotations

from dataclasses import replace

from runtime.errors import LimitAboveMaximum
from runtime.executions.request import LimitRequest
from runtime.settings import Settings
from runtime.tenancy.tenants import Tenant
from sandbox.limits import LimitError, Limits

Caps = tuple[float | None, int | None, int | None]  # a tenant's max_timeout_s, memory_mb, calls
MAX_CACHED_CAPS = 1024


class LimitPolicy:
    def __init__(self, settings: Settings) -> None:
        self.defaults = Limits(
            timeout_s=settings.timeout_s,
            cpu_s=settings.cpu_s,
            memory_mb=settings.memory_mb,
            stdout_bytes=settings.stdout_bytes,
            result_bytes=settings.result_bytes,
            max_calls=settings.max_calls,
            code_bytes=settings.code_bytes,
        )
        self.maxima = replace(
            self.defaults,
            timeout_s=settings.max_timeout_s,
            cpu_s=settings.max_cpu_s,
            memory_mb=settings.max_memory_mb,
        )
        # Most tenants share a few caps: their (defaults, maxima) are worked out once each.
        self._bounds: dict[Caps, tuple[Limits, Limits]] = {}

    def resolve(self, tenant: Tenant, request: LimitRequest) -> Limits:
        """The request's limits over the defaults, refused (naming the field) above the
        operator's maxima or the tenant's caps; a tenant's caps also lower the defaults."""
        defaults, maxima = self._tenant_bounds(tenant)
        try:
            return defaults.override(
                maxima,
                timeout_s=request.timeout_s,
                cpu_s=request.cpu_s,
                memory_mb=request.memory_mb,
                max_calls=request.max_calls,
            )
        except LimitError as exc:
            raise LimitAboveMaximum(str(exc), exc.field) from None

    def _tenant_bounds(self, tenant: Tenant) -> tuple[Limits, Limits]:
        caps: Caps = (tenant.max_timeout_s, tenant.max_memory_mb, tenant.max_calls)
        bounds = self._bounds.get(caps)
        if bounds is not None:
            return bounds
        top = self.maxima
        maxima = replace(
            top,
            timeout_s=min(top.timeout_s, tenant.max_timeout_s or top.timeout_s),
            memory_mb=min(top.memory_mb, tenant.max_memory_mb or top.memory_mb),
            max_calls=min(top.max_calls, tenant.max_calls or top.max_calls),
        )
        defaults = replace(
            self.defaults,
            timeout_s=min(self.defaults.timeout_s, maxima.timeout_s),
            memory_mb=min(self.defaults.memory_mb, maxima.memory_mb),
            max_calls=min(self.defaults.max_calls, maxima.max_calls),
        )
        if len(self._bounds) >= MAX_CACHED_CAPS:
            self._bounds.clear()
        self._bounds[caps] = (defaults, maxima)
        return defaults, maxima
