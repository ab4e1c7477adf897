"""Health and the agent-facing description of the `client` surface."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from client_surface.docs import surface_json, surface_markdown
from runtime.adapters.http.deps import ExecutionsDep

router = APIRouter()


@router.get("/healthz", summary="Liveness, the pool's state and the active isolation layers")
async def healthz(executions: ExecutionsDep) -> dict[str, Any]:
    return executions.health()


@router.get("/v1/surface", summary="The client.* surface as JSON and as compact markdown")
async def surface() -> dict[str, Any]:
    return {"methods": surface_json(), "markdown": surface_markdown()}
