"""Operator endpoints outside runtime auth: readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from runtime.adapters.http.deps import ExecutionsDep

router = APIRouter(tags=["operations"])


@router.get("/readyz", summary="Ready to serve: the database answers and the sandbox pool is alive")
async def readyz(executions: ExecutionsDep) -> JSONResponse:
    checks = await executions.ready()
    return JSONResponse(checks, status_code=200 if checks["ready"] else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(executions: ExecutionsDep) -> Response:
    return Response(executions.metrics.render(), media_type=CONTENT_TYPE_LATEST)
