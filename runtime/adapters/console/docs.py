"""`/docs`: Swagger UI served by the runtime itself, offline, from the `swagger-ui-bundle-v2`
PyPI package (nothing of it is in the repository), and the OpenAPI document's bearer scheme, so
"Authorize" takes a runtime key and "Try it out" sends it.

The app factory makes its app with `docs_url=None`; this module serves the page instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

SWAGGER_STATIC = "/docs/static"
SCHEME = "runtimeKey"
# Paths whose operations take the runtime key (the others are open: health, the backend).
AUTHENTICATED_PREFIXES = ("/v1/",)


def bearer_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with a bearer scheme on every operation under /v1/."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "trk_…",
        "description": "A runtime API key: `terrarium serve` prints the default tenant's; "
        "`terrarium tenants create` makes more.",
    }
    for path, operations in schema.get("paths", {}).items():
        if path.startswith(AUTHENTICATED_PREFIXES):
            for operation in operations.values():
                if isinstance(operation, dict):
                    operation.setdefault("security", [{SCHEME: []}])
    app.openapi_schema = schema
    return schema


def install(app: FastAPI) -> None:
    app.openapi = lambda: bearer_openapi(app)  # type: ignore[method-assign]
    app.mount(SWAGGER_STATIC, StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{SWAGGER_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_STATIC}/swagger-ui.css",
            swagger_favicon_url="/console/static/favicon.svg",
            swagger_ui_parameters={"persistAuthorization": False, "tryItOutEnabled": True},
        )

    app.add_api_route("/docs", swagger_ui, include_in_schema=False, methods=["GET"])
