"""POST /v1/execute's direct path (`ExecuteRoute`): a well-formed request is answered without
FastAPI's per-request machinery, with the same answer; anything else goes to FastAPI's own
handler, which answers it as before."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.adapters.http import execute as execute_module
from runtime.adapters.http.execute import ExecuteRoute


@pytest.fixture
def direct_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many answers the direct path made (FastAPI's own handler makes its own `Response`,
    not through this module's name)."""
    calls: list[int] = []
    real = execute_module.Response

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(execute_module, "Response", counted)
    return calls


def test_the_route_takes_the_direct_path(api):  # type: ignore[no-untyped-def]
    routes = [r for r in execute_module.router.routes if isinstance(r, ExecuteRoute)]
    assert len(routes) == 1 and routes[0].direct_path_fits()


def test_a_well_formed_request_is_answered_directly(api, direct_calls):  # type: ignore[no-untyped-def]
    r = api.post("/v1/execute", json={"code": "x = 40 + 2\nx"}, headers={"idempotency-key": "k1"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["status"] == "ok" and body["result"] == 42 and direct_calls == [1]
    assert list(body) == [
        "execution_id", "status", "result", "stdout", "stdout_truncated", "error", "calls",
        "duration_ms", "cpu_ms", "warnings", "cost_usd",
    ]  # fmt: skip
    again = api.post(
        "/v1/execute", json={"code": "x = 40 + 2\nx"}, headers={"idempotency-key": "k1"}
    )
    assert again.json()["execution_id"] == body["execution_id"]


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        ({"content": b"", "headers": {"content-type": "application/json"}}, 422, "invalid_request"),
        ({"content": b"{nope", "headers": {"content-type": "application/json"}}, 400,
         "invalid_json"),
        ({"json": {"code": "1", "timeout": 3}}, 422, "invalid_request"),
        ({"json": ["code"]}, 422, "invalid_request"),
        ({"json": {"code": "1"}, "headers": {"idempotency-key": "k" * 201}}, 422,
         "invalid_request"),
    ],
)  # fmt: skip
def test_anything_else_is_answered_by_fastapi_as_before(  # type: ignore[no-untyped-def]
    api, direct_calls, send, status, code
):
    r = api.post("/v1/execute", **send)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and direct_calls == []


def test_without_a_key_the_direct_path_answers_401(api):  # type: ignore[no-untyped-def]
    r = api.post("/v1/execute", json={"code": "1"}, headers={"authorization": "Bearer trk_nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
