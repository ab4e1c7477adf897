"""Errors raised by the FLORA client, one class per kind of failure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "FloraError",
    "ArgumentError",
    "APIError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "InsufficientCreditsError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APIConnectionTimeoutError",
    "ERROR_NAMES",
    "error_for_status",
]


class FloraError(Exception):
    """Base class of every error raised by the FLORA client."""


class ArgumentError(FloraError, TypeError):
    """Arguments that do not fit a method, caught before any HTTP request."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class APIError(FloraError):
    """A request to the FLORA API failed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        fields: list[dict[str, str]] | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.fields = list(fields or [])
        self.request_id = request_id
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        head = " ".join(str(p) for p in (self.status, self.code) if p)
        text = f"{head}: {self.message}" if head else self.message
        return f"{text} (request {self.request_id})" if self.request_id else text

    def to_json(self) -> dict[str, Any]:
        """The error as plain JSON: class, status, code, message, fields, request_id."""
        return {
            "class": type(self).__name__,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "fields": [
                {"field": str(f.get("field", "")), "message": str(f.get("message", ""))}
                for f in self.fields
            ],
            "request_id": self.request_id,
        }


class APIStatusError(APIError):
    """The API answered with a non-success HTTP status."""


class BadRequestError(APIStatusError):
    """HTTP 400: the request was malformed or failed input validation."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing or invalid."""


class InsufficientCreditsError(APIStatusError):
    """HTTP 402: the workspace does not have enough credits."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the API key may not do this."""


class NotFoundError(APIStatusError):
    """HTTP 404: no such object (or not visible to this key)."""


class ConflictError(APIStatusError):
    """HTTP 409: conflict, such as a duplicate idempotency key."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the request could not be processed, such as an idempotency conflict."""


class RateLimitError(APIStatusError):
    """HTTP 429: too many requests."""


class InternalServerError(APIStatusError):
    """HTTP 5xx: the API failed."""


class APIConnectionError(APIError):
    """The API could not be reached."""

    def __init__(self, message: str = "Connection error.") -> None:
        super().__init__(message)


class APIConnectionTimeoutError(APIConnectionError):
    """The request timed out."""

    def __init__(self, message: str = "Request timed out.") -> None:
        super().__init__(message)


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

ERROR_NAMES: tuple[str, ...] = tuple(n for n in __all__ if n[0].isupper() and n != "ERROR_NAMES")


def _envelope(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return {"message": body.strip()[:500]} if body.strip() else {}
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):
            return dict(inner)
        if isinstance(inner, str):
            return {"code": inner, "message": body.get("message")}
        if "message" in body or "code" in body:
            return dict(body)
    return {}


def error_for_status(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> APIStatusError:
    """The error for an HTTP error response, parsed from FLORA's error envelope."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    env = _envelope(body)
    code = env.get("code")
    message = env.get("message") or f"HTTP {status} with no error message."
    raw_fields = env.get("fields") or []
    fields = [
        {"field": str(f.get("field", "")), "message": str(f.get("message", ""))}
        for f in raw_fields
        if isinstance(f, Mapping)
    ]
    if status >= 500:
        cls: type[APIStatusError] = InternalServerError
    else:
        cls = _BY_STATUS.get(status, APIStatusError)
    return cls(
        str(message),
        status=status,
        code=str(code) if code is not None else None,
        fields=fields,
        request_id=headers.get("request-id"),
        headers=headers,
    )
