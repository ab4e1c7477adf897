"""`POST /v1/execute`: run one script now and answer with everything an agent needs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from runtime.auth import require_tenant
from runtime.schemas import ApiError, ExecuteRequest, ExecuteResponse
from runtime.service import LimitRequest
from runtime.tenants import Tenant

router = APIRouter()


def limit_request(body: ExecuteRequest) -> LimitRequest:
    return LimitRequest(
        timeout_s=body.timeout_s, cpu_s=body.cpu_s, memory_mb=body.memory_mb,
        max_calls=body.max_calls,
    )  # fmt: skip


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
    body: ExecuteRequest, request: Request, tenant: Tenant = Depends(require_tenant)
) -> dict:
    operator = request.app.state.operator
    limits = operator.limits_for(tenant, limit_request(body))
    return await operator.run(
        tenant, body.code, inputs=body.inputs, limits=limits, intent=body.intent
    )
