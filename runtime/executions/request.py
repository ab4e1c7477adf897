"""What an adapter asks the executions service for: one script, its inputs and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LimitRequest:
    """Limits a request asks for; None takes the default (runtime/executions/limits.py)."""

    timeout_s: float | None = None
    cpu_s: float | None = None
    memory_mb: int | None = None
    max_calls: int | None = None


@dataclass(frozen=True, slots=True)
class ExecutionRequest:
    """One script to run, as every adapter hands it to the service."""

    code: str
    inputs: dict[str, Any] | None = None
    intent: str | None = None
    limits: LimitRequest = field(default_factory=LimitRequest)
    # The most the execution's paid calls may cost, in USD; None takes the tenant's default.
    max_cost_usd: float | None = None
    # The caller's key for this request: the same key (per tenant) answers the same execution.
    idempotency_key: str | None = None
    # Who asks ("http", "mcp", "cli"): hints name only what that transport offers.
    transport: str = "http"
    # Asynchronous runs: where the record is POSTed, signed, once the execution ends.
    webhook_url: str | None = None
