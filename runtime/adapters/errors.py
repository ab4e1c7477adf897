"""The one translation of errors for every adapter: each exception the service or the pool
raises maps, in `ERROR_MAP`, to the code agents read and the HTTP status that carries it.

The HTTP API answers `report(exc).envelope()` with `report(exc).status`, MCP renders
`report(exc).text()`, and the CLI prints the code and message; none of them translates on its
own. An exception the map does not know is an internal error, whose details stay in the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime import errors
from runtime.tenancy import errors as tenancy
from sandbox.pool import PoolBusy, PoolUnavailable

ERROR_MAP: dict[type[Exception], tuple[int, str]] = {
    errors.InvalidCode: (422, "invalid_code"),
    errors.EmptyCode: (422, "empty_code"),
    errors.CodeTooLarge: (413, "code_too_large"),
    errors.BodyTooLarge: (413, "body_too_large"),
    errors.InputsTooLarge: (413, "inputs_too_large"),
    errors.UnsupportedMediaType: (415, "unsupported_media_type"),
    errors.InvalidStatusFilter: (422, "invalid_status"),
    errors.LimitAboveMaximum: (422, "limit_above_maximum"),
    errors.InvalidCursor: (422, "invalid_cursor"),
    errors.Unauthenticated: (401, "unauthorized"),
    errors.NotFound: (404, "not_found"),
    errors.NotCancellable: (409, "not_cancellable"),
    errors.IdempotencyConflict: (422, "idempotency_conflict"),
    errors.WebhookUrlRefused: (422, "webhook_url_refused"),
    errors.ShuttingDown: (503, "shutting_down"),
    errors.FloraUnconfigured: (503, "flora_unconfigured"),
    tenancy.NotOperator: (403, "forbidden"),
    tenancy.InvalidTenantName: (422, "invalid_name"),
    tenancy.InvalidTenantChange: (422, "invalid_request"),
    tenancy.InvalidDuration: (422, "invalid_duration"),
    tenancy.TenantExists: (409, "conflict"),
    tenancy.AmbiguousKey: (409, "ambiguous_key"),
    tenancy.BackendUnavailable: (409, "conflict"),
    errors.TooManyRunning: (429, "too_many_executions"),
    errors.RateLimited: (429, "rate_limited"),
    PoolBusy: (503, "busy"),
    PoolUnavailable: (503, "sandbox_unavailable"),
}
TRANSLATED: tuple[type[Exception], ...] = tuple(ERROR_MAP)


@dataclass(frozen=True, slots=True)
class ErrorReport:
    """What every adapter says about one error."""

    status: int
    code: str
    message: str
    fields: list[dict[str, str]] = field(default_factory=list)
    retry_after_s: int | None = None

    def envelope(self) -> dict[str, Any]:
        """The error envelope, `{"error": {"code", "message", "fields"}}`."""
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}

    def text(self) -> str:
        """One line for readers of plain text (MCP tool results)."""
        retry = f" (retry in {self.retry_after_s} s)" if self.retry_after_s else ""
        return f"{self.code}: {self.message}{retry}"


INTERNAL = ErrorReport(500, "internal_error", "the runtime failed; the error is logged")


def report(exc: BaseException) -> ErrorReport:
    """`exc` as the adapters report it: through `ERROR_MAP`, or `INTERNAL` if unknown."""
    for cls in type(exc).__mro__:
        entry = ERROR_MAP.get(cls)
        if entry is not None:
            status, code = entry
            return ErrorReport(status, code, _message(exc), _fields(exc), _retry_after(exc))
    return INTERNAL


def _message(exc: BaseException) -> str:
    if isinstance(exc, errors.Refusal):
        return exc.message
    if isinstance(exc, PoolBusy):
        return "every sandbox slot is in use and the queue is full; retry"
    return str(exc)


def _fields(exc: BaseException) -> list[dict[str, str]]:
    if isinstance(exc, errors.Refusal) and exc.field:
        return [{"field": exc.field, "message": exc.message}]
    return []


def _retry_after(exc: BaseException) -> int | None:
    if isinstance(exc, errors.Throttled | errors.ShuttingDown):
        return exc.retry_after_s
    if isinstance(exc, PoolBusy):
        return max(1, int(exc.retry_after))
    if isinstance(exc, PoolUnavailable):
        return 1
    return None
