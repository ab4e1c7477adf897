"""HTTP errors: everything answers the one envelope, `{"error": {"code", "message", "fields"}}`.

Domain and pool errors go through the one table (runtime/adapters/errors.py); the handlers
here add only what is HTTP's own: invalid request bodies, routing errors, and headers.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from runtime.adapters.errors import TRANSLATED, ErrorReport, report

ROUTING_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "rate_limited",
}


def respond(error: ErrorReport, headers: Mapping[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if error.retry_after_s:
        headers["retry-after"] = str(error.retry_after_s)
    if error.status == 401:
        headers["www-authenticate"] = "Bearer"
    return JSONResponse(error.envelope(), status_code=error.status, headers=headers or None)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
            fields.append({"field": ".".join(loc) or "body", "message": err.get("msg", "")})
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return respond(ErrorReport(400, "invalid_json", "the request body is not valid JSON",
                                       fields))  # fmt: skip
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return respond(ErrorReport(422, "invalid_request", message or "invalid request", fields))

    async def translated(request: Request, exc: Exception) -> JSONResponse:
        return respond(report(exc))

    for kind in TRANSLATED:
        app.add_exception_handler(kind, translated)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = ROUTING_CODES.get(exc.status_code, "error")
        error = ErrorReport(exc.status_code, code, str(exc.detail))
        return respond(error, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return respond(report(exc))
