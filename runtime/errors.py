"""Every way the runtime refuses a request, as one flat hierarchy, free of any transport.

Each class says when it happens; none carries an HTTP status or a wire code. The adapters (HTTP,
MCP, CLI) translate them through one table, `runtime/adapters/errors.py`, so an agent reads the
same code and message whichever way it asked.
"""

from __future__ import annotations


class Refusal(Exception):
    """The runtime will not run or answer this request; `field` names the part at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# Refusals of the request itself, before anything runs.


class InvalidCode(Refusal):
    """The code is not text UTF-8 can carry (a lone surrogate)."""


class EmptyCode(Refusal):
    """The code holds nothing but whitespace."""


class CodeTooLarge(Refusal):
    """The code is longer than the `code_bytes` limit."""


class BodyTooLarge(Refusal):
    """The request body is over `max_body_bytes` (TERRARIUM_MAX_BODY_BYTES)."""


class InputsTooLarge(Refusal):
    """The request's `inputs`, as JSON, are over `max_inputs_bytes` (TERRARIUM_MAX_INPUTS_BYTES)."""


class UnsupportedMediaType(Refusal):
    """A request body that does not say it is JSON (`Content-Type: application/json`)."""


class InvalidStatusFilter(Refusal):
    """A list filter naming a state or status that does not exist."""


class LimitAboveMaximum(Refusal):
    """A requested limit is above the operator's or the tenant's maximum."""


class InvalidCursor(Refusal):
    """A list cursor that this runtime did not make."""


# Refusals about who asks.


class Unauthenticated(Refusal):
    """No valid runtime API key came with the request."""


class NotFound(Refusal):
    """No execution by that id for this tenant (missing and another tenant's look the same)."""


class NotCancellable(Refusal):
    """The execution is not an asynchronous one still running on this replica."""


class IdempotencyConflict(Refusal):
    """An idempotency key already used by this tenant for other code or inputs."""


class WebhookUrlRefused(Refusal):
    """A `webhook_url` that is malformed or leads to a non-public address."""


class ShuttingDown(Refusal):
    """This server is draining before it stops: it admits no new execution (retry, another
    replica answers), or one it ran did not finish within TERRARIUM_DRAIN_S and was failed."""

    retry_after_s = 5


class FloraUnconfigured(Refusal):
    """The tenant's way to FLORA is not available on this server."""


# Refusals of admission: the tenant is over one of its limits; retry later.


class Throttled(Refusal):
    """Over a tenant's concurrency or rate limit; `retry_after_s` says when to try again."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s + 0.999))


class TooManyRunning(Throttled):
    """The tenant already runs as many executions as it may at once."""


class RateLimited(Throttled):
    """The tenant started as many executions in the last minute as it may."""
