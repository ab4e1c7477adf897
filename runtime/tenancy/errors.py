"""How tenancy refuses an operator's or a caller's request: each a `Refusal` the adapters
translate through the one error table (runtime/adapters/errors.py)."""

from __future__ import annotations

from runtime.errors import NotFound, Refusal, Unauthenticated


class KeyRefused(Unauthenticated):
    """A bearer key that does not open the door, with the reason its holder may know: unknown,
    expired or revoked. Says nothing of any tenant (the holder already had the key)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # "missing" | "unknown" | "expired" | "revoked"


class NotOperator(Refusal):
    """A valid tenant key sent to the admin API, which only the operator key opens."""


class InvalidTenantName(Refusal):
    """A tenant name outside the naming rule (TENANT_NAME_RULE in tenants.py)."""


class TenantExists(Refusal):
    """A tenant of that name exists already."""


class InvalidTenantChange(Refusal):
    """A limit or workspace value a tenant cannot have (not positive, unknown field, ...)."""


class InvalidDuration(Refusal):
    """An expiry or grace period that is not a duration like 90s, 15m, 1h, 30d, 2w."""


class AmbiguousKey(Refusal):
    """A key prefix that more than one key starts with."""


class TenantNotFound(NotFound):
    """No active tenant by that name or id."""


class KeyNotFound(NotFound):
    """No key by that id or prefix."""


class BackendUnavailable(Refusal):
    """A tenant of the built-in backend asked of a server that does not run it."""
