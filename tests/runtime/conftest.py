"""One running app per test module: the real pool, the real built-in backend at instant speed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from runtime_settings import make_settings

from runtime.adapters.http.execute import ExecuteRoute
from runtime.app import create_app


@pytest.fixture
def settings_factory(tmp_path: Any):  # type: ignore[no-untyped-def]
    return lambda **overrides: make_settings(tmp_path, **overrides)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("runtime"))
    with TestClient(create_app(settings)) as client:
        client.headers["authorization"] = f"Bearer {client.app.state.executions.default_key}"
        yield client


@pytest.fixture(scope="module")
def run(api: TestClient):  # type: ignore[no-untyped-def]
    """run(code, **request_fields) -> the /v1/execute response body (HTTP 200 asserted)."""

    def _run(code: str, **fields: Any) -> dict[str, Any]:
        response = api.post("/v1/execute", json={"code": code, **fields})
        assert response.status_code == 200, response.text
        return response.json()

    return _run


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the router handed to the execute route (the direct path is not one)."""
    seen: list[str] = []
    real = ExecuteRoute.handle

    async def handle(self: ExecuteRoute, scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await real(self, scope, receive, send)

    monkeypatch.setattr(ExecuteRoute, "handle", handle)
    return seen
