"""The console at `/console`: a person's way into the runtime, in the browser (docs/console.md).

Server-rendered pages (Jinja2) with small hand-written JS and CSS under `static/`, over the same
executions service every other adapter uses. Sign-in keeps a runtime key in an http-only
cookie; the default tenant's key also unlocks the operator views (see `session.py`). `/docs`
serves Swagger UI from the `swagger-ui-bundle-v2` package, with a bearer scheme in the OpenAPI
document (`docs.py`). `install(app)` wires it all into the app factory.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from runtime.adapters.console import api, docs, pages
from runtime.adapters.console.api import Conflict
from runtime.adapters.console.pages import STATIC_DIR
from runtime.adapters.console.session import Forbidden
from runtime.adapters.errors import ErrorReport


def _refusal(status: int, code: str) -> Any:
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        field = getattr(exc, "field", None)
        message = str(getattr(exc, "message", exc))
        fields = [{"field": field, "message": message}] if field else []
        return JSONResponse(ErrorReport(status, code, message, fields).envelope(), status)

    return handle


def install(app: FastAPI) -> None:
    app.add_exception_handler(Forbidden, _refusal(403, "forbidden"))
    app.add_exception_handler(Conflict, _refusal(409, "conflict"))
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(pages.router)
    app.include_router(api.router)
    docs.install(app)
