"""The runtime API's one error envelope, `{"error": {"code", "message", "fields"}}`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from runtime.service import RequestRejected
from sandbox.pool import PoolBusy, PoolUnavailable


def envelope(
    status: int,
    code: str,
    message: str,
    fields: list | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "fields": fields or []}},
        status_code=status,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
            fields.append({"field": ".".join(loc) or "body", "message": err.get("msg", "")})
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return envelope(400, "invalid_json", "the request body is not valid JSON", fields)
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return envelope(422, "invalid_request", message or "invalid request", fields)

    @app.exception_handler(RequestRejected)
    async def rejected(request: Request, exc: RequestRejected) -> JSONResponse:
        retry_after = getattr(exc, "retry_after", None)
        headers = {"retry-after": str(retry_after)} if retry_after else None
        return envelope(exc.status, exc.code, exc.message, exc.fields, headers=headers)

    @app.exception_handler(PoolBusy)
    async def busy(request: Request, exc: PoolBusy) -> JSONResponse:
        return envelope(
            503,
            "busy",
            "every sandbox slot is in use and the queue is full; retry",
            headers={"retry-after": str(max(1, int(exc.retry_after)))},
        )

    @app.exception_handler(PoolUnavailable)
    async def unavailable(request: Request, exc: PoolUnavailable) -> JSONResponse:
        return envelope(503, "sandbox_unavailable", str(exc), headers={"retry-after": "1"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            429: "rate_limited",
        }.get(exc.status_code, "error")
        return envelope(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return envelope(500, "internal_error", "the runtime failed; the error is logged")
