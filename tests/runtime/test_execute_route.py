"""POST /v1/execute's direct path (`ExecuteRoute`): a well-formed request is answered without
FastAPI's per-request machinery, with the same answer; anything else goes to FastAPI's own
handler, which answers it as before."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient

from runtime.adapters.http import deps
from runtime.adapters.http import execute as execute_module
from runtime.adapters.http.deps import ExecutionsDep, TenantDep
from runtime.adapters.http.execute import ExecuteRoute
from runtime.adapters.http.schemas import IDEMPOTENCY_KEY, ExecuteRequest, execution_request
from runtime.errors import Unauthenticated
from runtime.executions.outcome import ExecuteResponse


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


def test_the_direct_path_answers_with_the_routes_own_function(api, direct_calls):  # type: ignore[no-untyped-def]
    """A change to the route's function is answered on the direct path too, not only on
    FastAPI's own handler."""

    async def wrapped(  # type: ignore[no-untyped-def]
        body: ExecuteRequest,
        executions: ExecutionsDep,
        tenant: TenantDep,
        idempotency_key: str | None = IDEMPOTENCY_KEY,
    ):
        answer = await executions.run(tenant, execution_request(body, idempotency_key))
        return {**answer, "stdout": "wrapped"}

    route = ExecuteRoute(
        "/v1/execute-wrapped", wrapped, methods=["POST"], response_model=ExecuteResponse
    )
    assert route.direct_path_fits()
    api.app.router.routes.append(route)
    try:
        r = api.post("/v1/execute-wrapped", json={"code": "print(1)\n2"})
    finally:
        api.app.router.routes.remove(route)
    assert r.status_code == 200, r.text
    assert r.json()["stdout"] == "wrapped" and r.json()["result"] == 2 and direct_calls == [1]


def test_dependency_overrides_are_applied_by_fastapis_handler(api, direct_calls):  # type: ignore[no-untyped-def]
    def refuse() -> None:
        raise Unauthenticated("overridden")

    api.app.dependency_overrides[deps.tenant] = refuse
    try:
        r = api.post("/v1/execute", json={"code": "1"})
    finally:
        api.app.dependency_overrides.clear()
    assert r.status_code == 401 and r.json()["error"]["message"] == "overridden"
    assert direct_calls == []


def test_a_route_the_direct_path_does_not_know_is_answered_by_fastapi(api, direct_calls):  # type: ignore[no-untyped-def]
    async def with_query(  # type: ignore[no-untyped-def]
        body: ExecuteRequest,
        executions: ExecutionsDep,
        tenant: TenantDep,
        note: str = "",
        idempotency_key: str | None = IDEMPOTENCY_KEY,
    ):
        answer = await executions.run(tenant, execution_request(body, idempotency_key))
        return {**answer, "stdout": note}

    route = ExecuteRoute(
        "/v1/execute-noted", with_query, methods=["POST"], response_model=ExecuteResponse
    )
    assert not route.direct_path_fits()
    api.app.router.routes.append(route)
    try:
        r = api.post("/v1/execute-noted?note=hi", json={"code": "3"})
    finally:
        api.app.router.routes.remove(route)
    assert r.status_code == 200, r.text
    assert r.json()["stdout"] == "hi" and r.json()["result"] == 3 and direct_calls == []


def test_dependencies_added_where_the_router_is_included_are_not_skipped():  # type: ignore[no-untyped-def]
    """A dependency the app adds when it includes the router runs on every request: the direct
    path hands such a route to FastAPI's handler."""

    async def refuse() -> None:
        raise HTTPException(403, "refused where the router is included")

    router = APIRouter(route_class=ExecuteRoute)
    router.add_api_route(
        "/v1/execute", execute_module.execute, methods=["POST"], response_model=ExecuteResponse
    )
    app = FastAPI()
    app.include_router(router, dependencies=[Depends(refuse)])
    with TestClient(app) as client:
        r = client.post("/v1/execute", json={"code": "1"})
    assert r.status_code == 403 and r.json()["detail"] == "refused where the router is included"
