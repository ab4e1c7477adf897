"""`POST /v1/execute`: run one script now and answer with everything an agent needs."""

from __future__ import annotations

from fastapi import APIRouter, Request

from runtime.schemas import ApiError, ExecuteRequest, ExecuteResponse
from runtime.service import LimitRequest, Terrarium

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
        413: {"model": ApiError},
        422: {"model": ApiError},
        503: {"model": ApiError},
    },  # fmt: skip
    summary="Run a script in a fresh sandbox and return its result, output, calls and error",
)
async def execute(body: ExecuteRequest, request: Request) -> dict:
    terrarium: Terrarium = request.app.state.terrarium
    limits = terrarium.limits_for(limit_request(body))
    return await terrarium.execute(body.code, inputs=body.inputs, limits=limits)
