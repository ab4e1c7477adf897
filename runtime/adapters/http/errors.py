"""HTTP errors: everything answers the one envelope, `{"error": {"code", "message", "fields"}}`.

Domain and pool errors go through the one table (runtime/adapters/errors.py); the handlers
here add only what is HTTP's own: invalid request bodies, routing errors, and headers.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

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


# Where pydantic says a value came from; the field's own name follows.
_LOCATIONS = ("body", "query", "path", "header", "cookie")


def invalid_json(body: str | bytes) -> ErrorReport:
    """400 with the decoder's own reason and where (line, column); `field` is the body."""
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        reason = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    except UnicodeDecodeError as exc:
        reason = f"it is not UTF-8 text (byte {exc.start})"
    else:  # pragma: no cover - FastAPI found it invalid; the decoders agree
        reason = "it could not be decoded"
    message = f"the request body is not valid JSON: {reason}"
    return ErrorReport(400, "invalid_json", message, [{"field": "body", "message": message}])


def _known_fields(request: Request) -> list[str]:
    """The body fields of the route that refused `request` (its body model's)."""
    route: Any = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    info = getattr(body_field, "field_info", None)
    model = getattr(info, "annotation", None)
    fields = getattr(model, "model_fields", None)
    return list(fields) if isinstance(fields, dict) else []


def _problem(err: dict[str, Any], known: list[str]) -> dict[str, str]:
    loc = [str(p) for p in err.get("loc", ())]
    if loc and loc[0] in _LOCATIONS:
        loc = loc[1:]
    name = ".".join(loc) or "body"
    message = str(err.get("msg", ""))
    if err.get("type") == "extra_forbidden" and len(loc) == 1 and known:
        close = difflib.get_close_matches(loc[0], known, n=1, cutoff=0.6)
        maybe = f"did you mean {close[0]!r}? " if close else ""
        message = f"unknown field {loc[0]!r}; {maybe}the fields are: {', '.join(known)}"
    return {"field": name, "message": message}


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            body = exc.body if isinstance(exc.body, str | bytes) else await request.body()
            return respond(invalid_json(body))
        known = _known_fields(request)
        fields = [_problem(err, known) for err in exc.errors()]
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
