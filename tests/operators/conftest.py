"""One app per module with auth on, and helpers that make tenants and their keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runtime.app import create_app
from runtime.settings import Settings


def make_settings(tmp_path: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "backend_speed": 0,
        "pool_warm": 2,
        "timeout_s": 10,
        "max_timeout_s": 30,
        "cpu_s": 10,
        "secret_key": None,
    }
    values.update(overrides)
    return Settings(**values)


class Api:
    """A TestClient plus ways to make tenants on the running app (keys shown once)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.executions = client.app.state.executions
        self.default_key = self.executions.default_key

    def call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.portal.call(lambda: fn(*args, **kwargs))

    def tenant(self, name: str, *, builtin: bool = False, **fields: Any) -> tuple[Any, str]:
        """(tenant, runtime key); builtin=True gives it its own backend workspace and key."""
        if builtin:
            backend = self.executions.connections.backend
            workspace = self.call(backend.create_workspace, name)
            key = self.call(backend.create_key, workspace)
            fields.update(flora_kind="builtin", flora_key=key, workspaces=[workspace])
        fields.setdefault("flora_kind", "server")
        return self.call(self.executions.tenants.create, name, **fields)

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    def execute(self, key: str, code: str, **fields: Any):  # type: ignore[no-untyped-def]
        return self.client.post(
            "/v1/execute", json={"code": code, **fields}, headers=self.auth(key)
        )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = make_settings(tmp_path_factory.mktemp("operators"))
    with TestClient(create_app(settings)) as client:
        yield Api(client)


@pytest.fixture
def api_with(tmp_path: Any) -> Callable[..., AbstractContextManager[Api]]:
    """`with api_with(**settings) as api:` an app of its own, on this test's data directory
    (a second `with` on the same directory is a restart)."""

    @contextmanager
    def start(**overrides: Any) -> Iterator[Api]:
        with TestClient(create_app(make_settings(tmp_path, **overrides))) as client:
            yield Api(client)

    return start


@pytest.fixture
def cli(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """`cli(*argv)` -> (exit code, stdout, stderr) of the terrarium command on this test's own
    data directory (SQLite), with a 7 s key cache and the default tenant rate."""
    from runtime.adapters.cli.main import main

    monkeypatch.setenv("TERRARIUM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("FLORA_API_KEY", raising=False)
    monkeypatch.setenv("TERRARIUM_KEY_CACHE_S", "7")
    monkeypatch.setenv("TERRARIUM_TENANT_PER_MINUTE", "120")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run
