"""`POST /v1/execute`: run one script now and answer with everything an agent needs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from runtime.adapters.http.deps import ExecutionsDep, TenantDep
from runtime.adapters.http.schemas import (
    IDEMPOTENCY_KEY,
    ApiError,
    ExecuteRequest,
    execution_request,
)
from runtime.executions.outcome import ExecuteResponse

router = APIRouter()


@router.post(
    "/v1/execute",
    response_model=ExecuteResponse,
    responses={
        400: {"model": ApiError},
        401: {"model": ApiError},
        413: {"model": ApiError},
        422: {"model": ApiError},
        429: {"model": ApiError},
        503: {"model": ApiError},
    },  # fmt: skip
    summary="Run a script in a fresh sandbox and return its result, output, calls and error",
)
async def execute(
    body: ExecuteRequest,
    executions: ExecutionsDep,
    tenant: TenantDep,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> Any:
    return await executions.run(tenant, execution_request(body, idempotency_key))
