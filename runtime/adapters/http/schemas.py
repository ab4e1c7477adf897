"""HTTP request bodies and the error envelope's model, so the OpenAPI document is the real
contract (the response body, `ExecuteResponse`, is the execution's own: runtime/executions/
outcome.py)."""

from __future__ import annotations

from typing import Any

from fastapi import Header
from pydantic import BaseModel, ConfigDict, Field

from runtime.executions.request import ExecutionRequest, LimitRequest
from runtime.executions.webhooks import MAX_URL_CHARS


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        description="The script: `def run(client): ...`, async or not, or plain "
        "statements whose last expression is the result."
    )
    inputs: dict[str, Any] | None = Field(
        default=None, description="A JSON object available to the script as `inputs`."
    )
    timeout_s: float | None = Field(default=None, gt=0, description="Wall-clock limit, seconds.")
    cpu_s: float | None = Field(default=None, gt=0, description="CPU-time limit, seconds.")
    memory_mb: int | None = Field(default=None, gt=0, description="Memory the script may use.")
    max_calls: int | None = Field(default=None, gt=0, description="Most client calls allowed.")
    intent: str | None = Field(
        default=None, max_length=2000, description="What the script is for, kept with the record."
    )
    max_cost_usd: float | None = Field(
        default=None,
        ge=0,
        description="The most the script's paid calls may cost, in USD; a call whose estimate "
        "exceeds what is left is refused before it is sent. Default: the tenant's.",
    )


class SubmitRequest(ExecuteRequest):
    """An asynchronous run: the same fields, and where to be told when it ends."""

    webhook_url: str | None = Field(
        default=None,
        max_length=MAX_URL_CHARS,
        description="Where to POST the execution's record (the body of GET "
        "/v1/executions/{id}) once it reaches its final state, signed with your tenant's "
        "webhook secret in `Terrarium-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
        '"<t>.<body>">`. An https URL whose host resolves to public addresses only '
        "(refused with 422 otherwise); retried with backoff until it answers 2xx.",
        examples=["https://example.com/hooks/terrarium"],
    )


class ApiErrorBody(BaseModel):
    code: str
    message: str
    fields: list[dict[str, str]] = []


class ApiError(BaseModel):
    error: ApiErrorBody


def execution_request(body: ExecuteRequest, idempotency_key: str | None = None) -> ExecutionRequest:
    """The request body (and its `Idempotency-Key` header) as the executions service takes it
    (with its `webhook_url`, for an asynchronous run)."""
    limits = LimitRequest(
        timeout_s=body.timeout_s, cpu_s=body.cpu_s, memory_mb=body.memory_mb,
        max_calls=body.max_calls,
    )  # fmt: skip
    return ExecutionRequest(
        body.code, inputs=body.inputs, intent=body.intent, limits=limits,
        max_cost_usd=body.max_cost_usd, idempotency_key=idempotency_key or None,
        webhook_url=body.webhook_url if isinstance(body, SubmitRequest) else None,
    )  # fmt: skip


IDEMPOTENCY_KEY = Header(
    default=None,
    alias="Idempotency-Key",
    max_length=200,
    description="Your key for this request: the same key (per tenant) answers the same "
    "execution instead of running it again, so a retry never pays twice.",
)
