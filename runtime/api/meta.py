"""Health and the agent-facing description of the `client` surface."""

from __future__ import annotations

from fastapi import APIRouter, Request

from client_surface.docs import surface_json, surface_markdown

router = APIRouter()


@router.get("/healthz", summary="Liveness, the pool's state and the active isolation layers")
async def healthz(request: Request) -> dict:
    return request.app.state.terrarium.health()


@router.get("/v1/surface", summary="The client.* surface as JSON and as compact markdown")
async def surface() -> dict:
    return {"methods": surface_json(), "markdown": surface_markdown()}
