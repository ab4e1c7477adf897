"""The door answers a well-formed `POST /v1/execute` by the route's direct path, before the
router: the same answer, errors answered by the app's own handlers, the access log's route
label; anything the direct path does not take goes through the whole app as before."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from runtime_settings import make_settings

from runtime.app import create_app
from runtime.infra.logs import JsonFormatter


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("door-direct"))
    app = create_app(settings)
    with TestClient(app) as client:
        client.headers["authorization"] = f"Bearer {app.state.executions.default_key}"
        # The first request builds the route's handler, and with it the direct path.
        assert client.post("/v1/execute", json={"code": "1"}).status_code == 200
        yield client


def test_a_well_formed_request_is_answered_before_the_router(api, routed, caplog):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="terrarium.access")
    r = api.post("/v1/execute", json={"code": "6 * 7"}, headers={"x-request-id": "direct-1"})
    assert r.status_code == 200 and r.json()["result"] == 42 and routed == []
    assert r.headers["x-request-id"] == "direct-1"
    assert r.headers["content-type"] == "application/json"
    [line] = [json.loads(JsonFormatter().format(rec)) for rec in caplog.records
              if rec.name == "terrarium.access" and rec.request_id == "direct-1"]  # fmt: skip
    assert line["route"] == "/v1/execute" and line["status"] == 200
    assert line["tenant"] == "default"


def test_an_error_on_the_direct_path_is_answered_by_the_apps_handlers(api, routed):  # type: ignore[no-untyped-def]
    r = api.post("/v1/execute", json={"code": "1"}, headers={"authorization": "Bearer trk_no"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer" and routed == []
    limited = api.post("/v1/execute", json={"code": "1", "timeout_s": 10**6})
    assert limited.status_code == 422 and routed == []
    assert limited.json()["error"]["fields"][0]["field"] == "timeout_s"


def test_an_unexpected_error_on_the_direct_path_is_the_internal_error(  # type: ignore[no-untyped-def]
    api, routed, monkeypatch
):
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(api.app.state.executions, "run", broken)
    r = api.post("/v1/execute", json={"code": "1"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "boom" not in r.text and routed == []


@pytest.mark.parametrize(
    ("send", "status"),
    [
        ({"content": b"{nope", "headers": {"content-type": "application/json"}}, 400),
        ({"json": {"code": "1", "timeout": 3}}, 422),
    ],
)
def test_what_the_direct_path_does_not_take_goes_through_the_router(  # type: ignore[no-untyped-def]
    api, routed, send, status
):
    r = api.post("/v1/execute", **send)
    assert r.status_code == status, r.text
    assert routed == ["/v1/execute"]


def test_dependency_overrides_go_through_the_router(api, routed):  # type: ignore[no-untyped-def]
    from runtime.adapters.http import deps
    from runtime.errors import Unauthenticated

    def refuse() -> None:
        raise Unauthenticated("overridden")

    api.app.dependency_overrides[deps.tenant] = refuse
    try:
        r = api.post("/v1/execute", json={"code": "1"})
    finally:
        api.app.dependency_overrides.clear()
    assert r.status_code == 401 and r.json()["error"]["message"] == "overridden"
    assert routed == ["/v1/execute"]


class _Quiet(Exception):
    """An error whose handler answers nothing."""


def test_an_error_whose_handler_answers_nothing_does_not_run_the_request_again(
    tmp_path: Path,
) -> None:
    """Starlette sends nothing when a handler returns None; the door's direct path has taken the
    request by then, and never hands it on to the whole app (the script would run twice)."""

    async def nothing(request: Any, exc: Exception) -> None:
        return None

    app = create_app(make_settings(tmp_path))
    app.add_exception_handler(_Quiet, nothing)
    runs: list[str] = []

    async def quiet(*args: Any, **kwargs: Any) -> Any:
        runs.append("run")
        raise _Quiet

    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["authorization"] = f"Bearer {app.state.executions.default_key}"
        assert client.post("/v1/execute", json={"code": "1"}).status_code == 200
        assert app.state.execute_direct_path is not None  # the door takes the next one
        app.state.executions.run = quiet
        r = client.post("/v1/execute", json={"code": "1"})
    assert r.status_code == 500  # no answer at all, as the whole app gives none
    assert runs == ["run"]


def test_a_request_under_a_root_path_goes_through_the_router(api, routed):  # type: ignore[no-untyped-def]
    """Under a root path (a mounted app, a server's --root-path) the router matches the path
    without it: `/v1/execute` under `/v1` is `/execute`, no route, and the door does not answer
    it as the execute route."""
    body = json.dumps({"code": "1"}).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/execute", "raw_path": b"/v1/execute", "query_string": b"",
        "root_path": "/v1", "client": ("127.0.0.1", 1), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                    (b"authorization", api.headers["authorization"].encode())],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        await api.app(scope, receive, send)

    api.portal.call(call)
    assert sent[0]["status"] == 404, sent
    assert json.loads(sent[1]["body"])["error"]["code"] == "not_found"
    assert routed == []  # the router found no route for it (nor did the door take it)


def test_the_route_included_under_a_prefix_is_not_answered_at_the_unprefixed_path(
    tmp_path: Path,
) -> None:
    """An app that serves the execute route only under a prefix has no `/v1/execute`: the door
    does not answer that path by the prefixed route's direct path."""
    from runtime.adapters.http import execute

    app = create_app(make_settings(tmp_path))
    app.router.routes[:] = [
        r for r in app.router.routes if getattr(r, "original_router", None) is not execute.router
    ]
    app.include_router(execute.router, prefix="/x")
    with TestClient(app) as client:
        client.headers["authorization"] = f"Bearer {app.state.executions.default_key}"
        assert client.post("/x/v1/execute", json={"code": "1"}).status_code == 200
        r = client.post("/v1/execute", json={"code": "1"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
