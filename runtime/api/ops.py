"""Operator endpoints outside runtime auth: readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(tags=["operations"])


@router.get("/readyz", summary="Ready to serve: the database answers and the sandbox pool is alive")
async def readyz(request: Request) -> JSONResponse:
    checks = await request.app.state.operator.ready()
    return JSONResponse(checks, status_code=200 if checks["ready"] else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    body = request.app.state.operator.metrics.render()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
