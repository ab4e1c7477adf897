"""FLORA's error envelope for the built-in backend: the `ApiError` exception handlers raise,
its JSON form `{"error": {code, message, fields}}`, and the translation of pydantic
validation errors into `input_validation_error` with one entry per field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import ValidationError

from flora_backend.catalog import family_hint


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields or [])
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return envelope_response(self.status, self.code, self.message, self.fields, self.headers)


def envelope(code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": list(fields or [])}}


def envelope_response(
    status: int,
    code: str,
    message: str,
    fields: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(envelope(code, message, fields), status_code=status, headers=headers)


def invalid(field: str, message: str) -> ApiError:
    """A 400 input_validation_error about one field, worded like FLORA's (`prompt: Required`)."""
    return ApiError(
        400, "input_validation_error", f"{field}: {message}", [{"field": field, "message": message}]
    )


def not_found(what: str, value: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} {value!r} was not found.")


def unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers={"www-authenticate": "Bearer"})


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "body"


def from_validation(exc: ValidationError, valid_fields: list[str]) -> ApiError:
    fields: list[dict[str, str]] = []
    for err in exc.errors():
        field = _field_name(err["loc"])
        kind = err["type"]
        if kind == "missing":
            message = "Required"
        elif kind == "extra_forbidden":
            message = f"Unknown field. Valid fields: {', '.join(valid_fields)}"
        elif kind == "literal_error":
            hint = family_hint(err.get("input")) if err["loc"] == ("type",) else None
            expected = err.get("ctx", {}).get("expected", "")
            message = hint or f"Must be one of {expected} (got {err.get('input')!r})"
        else:
            message = err["msg"]
        fields.append({"field": field, "message": message})
    text = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return ApiError(400, "input_validation_error", text, fields)
