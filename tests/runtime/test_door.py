"""At the door: body and inputs caps, content type, invalid JSON, unknown fields, status filters,
request ids, the access log and the HTTP metrics."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from runtime_settings import make_settings
from starlette.applications import Starlette
from starlette.routing import Mount

from runtime.adapters.http.door import Door
from runtime.app import create_app
from runtime.infra.logs import JsonFormatter
from runtime.infra.metrics import Metrics
from runtime.settings import Settings


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("door"), max_body_bytes=4000, max_inputs_bytes=1000
    )
    with TestClient(create_app(settings)) as client:
        client.headers["authorization"] = f"Bearer {client.app.state.executions.default_key}"
        yield client


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


# ---------------------------------------------------------------- caps


def test_a_body_over_the_cap_is_413_naming_the_limit_and_the_setting(small):
    response = small.post("/v1/execute", json={"code": "1", "intent": "x" * 5000})
    assert response.status_code == 413
    assert error(response)["code"] == "body_too_large"
    assert "4000-byte limit" in error(response)["message"]
    assert "TERRARIUM_MAX_BODY_BYTES" in error(response)["message"]


def test_inputs_over_their_cap_are_413_naming_the_setting(small):
    response = small.post("/v1/execute", json={"code": "inputs", "inputs": {"a": "x" * 2000}})
    assert response.status_code == 413
    assert error(response)["code"] == "inputs_too_large"
    assert "TERRARIUM_MAX_INPUTS_BYTES" in error(response)["message"]
    assert error(response)["fields"][0]["field"] == "inputs"
    assert small.post("/v1/executions", json={"code": "1", "inputs": {"a": "x" * 2000}}
                      ).status_code == 413  # fmt: skip
    ok = small.post("/v1/execute", json={"code": "inputs['a']", "inputs": {"a": "x" * 500}})
    assert ok.status_code == 200 and ok.json()["result"] == "x" * 500


async def _call(door: Door, scope: dict[str, Any], chunks: Any) -> tuple[int, bytes, int]:
    """Drive `door` with `chunks` (an iterator of bytes); (status, body, bytes it read)."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(chunks)
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await door(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, read


def _endless(size: int = 64 * 1024) -> Any:
    while True:
        yield b"x" * size


def _door() -> tuple[Door, list[Any]]:
    reached: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope)

    settings = Settings(max_body_bytes=100_000)
    return Door(app, settings, Metrics(lambda: {})), reached


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/execute", "headers": headers}


def test_a_declared_length_over_the_cap_is_refused_before_a_byte_is_read():
    door, reached = _door()
    scope = _scope([(b"content-type", b"application/json"), (b"content-length", b"209715200")])
    status, body, read = asyncio.run(_call(door, scope, _endless()))
    assert status == 413 and read == 0 and not reached
    assert b"TERRARIUM_MAX_BODY_BYTES" in body


def test_a_chunked_body_is_counted_as_it_arrives_and_cut_at_the_cap():
    door, reached = _door()
    scope = _scope([(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")])
    status, body, read = asyncio.run(_call(door, scope, _endless()))
    assert status == 413 and not reached
    assert read <= 100_000 + 64 * 1024  # never more than the cap and one chunk


@pytest.mark.parametrize(
    ("root", "path"),
    [
        ("/terrarium", "/terrarium/v1/execute"),  # a mount; a server's --root-path
        ("/terrarium", "/v1/execute"),  # a proxy that strips the prefix and says so
        ("/a/b", "/a/b/mcp"),
    ],
)
def test_under_a_root_path_the_door_still_caps_and_checks_the_body(root: str, path: str) -> None:
    """The door guards the path the router matches: an app served under a prefix would
    otherwise take any body, of any size and any declared type (a cross-origin form post)."""
    door, reached = _door()
    big = {**_scope([(b"content-type", b"application/json"), (b"content-length", b"209715200")]),
           "path": path, "root_path": root}  # fmt: skip
    status, body, read = asyncio.run(_call(door, big, _endless()))
    assert status == 413 and read == 0 and not reached
    form = {**_scope([(b"content-type", b"text/plain"), (b"content-length", b"2")]),
            "path": path, "root_path": root}  # fmt: skip
    status, body, _ = asyncio.run(_call(door, form, iter([b"{}"])))
    assert status == 415 and not reached
    assert b"application/json" in body


def test_a_mounted_app_refuses_a_form_post_at_its_prefixed_execute(small) -> None:  # type: ignore[no-untyped-def]
    outer = Starlette(routes=[Mount("/terrarium", app=small.app)])
    with TestClient(outer) as client:
        headers = {"content-type": "text/plain", "x-request-id": "mounted-1"}
        response = client.post("/terrarium/v1/execute", content=b'{"code": "1"}', headers=headers)
    assert response.status_code == 415, response.text
    assert response.headers["x-request-id"] == "mounted-1"


# ---------------------------------------------------------------- what the body says


def test_a_body_that_is_not_declared_json_is_415_naming_application_json(small):
    for headers in (
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
    ):
        response = small.post("/v1/execute", content=b'{"code": "1"}', headers=headers)
        assert response.status_code == 415, response.text
        assert error(response)["code"] == "unsupported_media_type"
        assert "application/json" in error(response)["message"]
    charset = small.post("/v1/execute", content=b'{"code": "1"}',
                         headers={"content-type": "application/json; charset=utf-8"})  # fmt: skip
    assert charset.status_code == 200


def test_invalid_json_keeps_the_decoders_reason_line_and_column_and_names_the_body(small):
    body = b'{\n  "code": "1",\n}'
    response = small.post("/v1/execute", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    message = error(response)["message"]
    assert "Expecting property name enclosed in double quotes" in message
    assert "line 3, column 1" in message
    assert error(response)["fields"] == [{"field": "body", "message": message}]


def test_an_unknown_field_gets_a_did_you_mean_and_the_list_of_fields(small):
    response = small.post("/v1/execute", json={"code": "1", "timeout": 5})
    assert response.status_code == 422
    (field,) = error(response)["fields"]
    assert field["field"] == "timeout"
    assert "did you mean 'timeout_s'?" in field["message"]
    assert "code, inputs, timeout_s" in field["message"]


def test_an_unknown_status_filter_is_422_listing_the_statuses(small):
    response = small.get("/v1/executions", params={"status": "bogus"})
    assert response.status_code == 422
    assert error(response)["code"] == "invalid_status"
    assert error(response)["fields"][0]["field"] == "status"
    for status in ("queued", "running", "done", "failed", "ok", "error", "cancelled"):
        assert status in error(response)["message"]
    assert small.get("/v1/executions", params={"status": "cancelled"}).status_code == 200


def test_the_openapi_document_shows_the_request_schema_and_the_status_enum(small):
    doc = small.get("/openapi.json").json()
    schema = doc["components"]["schemas"]["ExecuteRequest"]
    assert schema["additionalProperties"] is False
    assert all(field.get("description") for field in schema["properties"].values())
    ref = doc["paths"]["/v1/execute"]["post"]["requestBody"]["content"]["application/json"]
    assert ref["schema"]["$ref"].endswith("/ExecuteRequest")
    params = doc["paths"]["/v1/executions"]["get"]["parameters"]
    status = next(p for p in params if p["name"] == "status")
    assert "cancelled" in json.dumps(status)
    assert "delete" in doc["paths"]["/v1/executions/{execution_id}"]


# ---------------------------------------------------------------- seeing what happens


def test_a_request_id_is_accepted_when_well_formed_else_made_and_echoed_on_auth_failures(small):
    mine = small.get("/v1/executions", headers={"x-request-id": "agent-7.step:3"})
    assert mine.headers["x-request-id"] == "agent-7.step:3"
    refused = small.get("/v1/executions", headers={"authorization": "Bearer nope",
                                                   "x-request-id": "bad id {}"})  # fmt: skip
    assert refused.status_code == 401
    made = refused.headers["x-request-id"]
    assert made.startswith("req_") and made != "bad id"
    too_big = small.post("/v1/execute", json={"code": "1", "intent": "x" * 5000})
    assert too_big.headers["x-request-id"].startswith("req_")


def test_every_v1_request_writes_one_json_access_log_line(small, caplog):
    caplog.set_level(logging.INFO, logger="terrarium.access")
    small.get("/v1/executions", headers={"x-request-id": "log-me", "authorization": "Bearer x"})
    small.post("/v1/execute", json={"code": "1"}, headers={"x-request-id": "log-me-too"})
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records
             if r.name == "terrarium.access"]  # fmt: skip
    first = next(line for line in lines if line["request_id"] == "log-me")
    assert first["status"] == 401 and first["route"] == "/v1/executions"
    assert first["reason"] == "unauthorized" and first["method"] == "GET"
    second = next(line for line in lines if line["request_id"] == "log-me-too")
    assert second["status"] == 200 and second["tenant"] == "default"
    assert second["duration_ms"] >= 0


def test_a_whole_key_in_a_path_is_logged_as_its_prefix_only(small, caplog):
    caplog.set_level(logging.INFO, logger="terrarium.access")
    secret = "trk_" + "s3cr3t" * 7
    small.post(f"/v1/admin/keys/{secret}/revoke", headers={"x-request-id": "masked"})
    [line] = [json.loads(JsonFormatter().format(r)) for r in caplog.records
              if r.name == "terrarium.access" and r.request_id == "masked"]  # fmt: skip
    assert line["path"] == "/v1/admin/keys/trk_s3cr3ts3…/revoke"


def test_http_metrics_count_routes_statuses_4xx_reasons_and_tenants(small):
    small.get("/v1/executions", headers={"authorization": "Bearer x"})
    small.post("/v1/execute", json={"code": "1"})
    small.post("/v1/execute", content=b"{}", headers={"content-type": "text/plain"})
    text = small.get("/metrics").text
    assert 'terrarium_http_requests_total{method="POST",route="/v1/execute",status="200"}' in text
    assert ('terrarium_http_client_errors_total{reason="unauthorized",route="/v1/executions",'
            'status="401"}') in text  # fmt: skip
    assert 'reason="unsupported_media_type",route="/v1/execute",status="415"' in text
    assert (
        'terrarium_tenant_requests_total{route="/v1/execute",status="200",tenant="default"}' in text
    )
