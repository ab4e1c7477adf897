"""Mapping HTTP failures to error classes, and the error envelope."""

from __future__ import annotations

import json

import httpx
import pytest
from flora_mock import API_KEY, scripted

from client_surface import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FloraError,
    InsufficientCreditsError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from client_surface.errors import error_for_status

CASES = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (402, InsufficientCreditsError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (422, UnprocessableEntityError),
    (429, RateLimitError),
    (500, InternalServerError),
    (503, InternalServerError),
    (418, APIStatusError),
]


@pytest.mark.parametrize(("status", "cls"), CASES)
def test_status_maps_to_its_error_class(status, cls):
    error = error_for_status(status, {"error": {"code": "c", "message": "m"}}, {})
    assert type(error) is cls
    assert isinstance(error, APIError) and isinstance(error, FloraError)
    assert error.status == status


def test_envelope_fields_code_message_and_request_id_are_parsed():
    body = {
        "error": {
            "code": "input_validation_error",
            "message": "prompt: Required",
            "fields": [{"field": "prompt", "message": "Required"}],
        }
    }
    error = error_for_status(400, json.dumps(body).encode(), {"Request-Id": "req_abc"})
    assert error.code == "input_validation_error"
    assert error.message == "prompt: Required"
    assert error.fields == [{"field": "prompt", "message": "Required"}]
    assert error.request_id == "req_abc"
    assert error.headers["request-id"] == "req_abc"
    assert "prompt: Required" in str(error) and "req_abc" in str(error)


def test_non_json_error_body_still_gives_a_message():
    error = error_for_status(502, b"<html>Bad gateway</html>", {})
    assert isinstance(error, InternalServerError)
    assert "Bad gateway" in error.message
    assert error.code is None


def test_empty_error_body_names_the_status():
    assert "HTTP 404" in error_for_status(404, b"", {}).message


def test_to_json_holds_only_plain_values():
    error = error_for_status(
        402,
        {"error": {"code": "insufficient_credits", "message": "Not enough credits"}},
        {"request-id": "req_1"},
    )
    data = error.to_json()
    assert data == {
        "class": "InsufficientCreditsError",
        "status": 402,
        "code": "insufficient_credits",
        "message": "Not enough credits",
        "fields": [],
        "request_id": "req_1",
    }
    assert json.loads(json.dumps(data)) == data


def test_client_raises_mapped_error_with_envelope(make_sync):
    rec = scripted(
        httpx.Response(
            404,
            json={"error": {"code": "not_found", "message": "Project not found"}},
            headers={"request-id": "req_9"},
        )
    )
    with pytest.raises(NotFoundError) as info:
        make_sync(rec).projects.retrieve("prj_missing")
    assert info.value.code == "not_found"
    assert info.value.request_id == "req_9"


def test_api_key_never_appears_in_error_text(make_sync):
    rec = scripted(*[httpx.ConnectError("refused")] * 3)
    with pytest.raises(APIConnectionError) as info:
        make_sync(rec).workspaces.list()
    assert API_KEY not in str(info.value)
    assert API_KEY not in json.dumps(info.value.to_json())
    assert API_KEY not in repr(make_sync(rec))


def test_malformed_success_body_is_an_api_error(make_sync):
    rec = scripted(httpx.Response(200, content=b"not json"))
    with pytest.raises(APIError, match="not JSON"):
        make_sync(rec).workspaces.list()
