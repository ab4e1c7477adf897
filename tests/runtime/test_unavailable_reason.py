"""A run the sandbox could not serve (no child could be made: the zygote at its process limit)
is recorded with the pool's own reason, not the name of the exception's class."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from runtime_settings import make_settings

from runtime.app import create_app
from sandbox.pool import PoolUnavailable


def test_a_queued_run_without_a_child_says_why(tmp_path: Any, monkeypatch: pytest.MonkeyPatch):
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        client.headers["authorization"] = f"Bearer {app.state.executions.default_key}"

        async def no_child(*args: Any, **kwargs: Any) -> Any:
            raise PoolUnavailable("no sandbox child could be made within 30 s")

        monkeypatch.setattr(app.state.executions.runner.pool, "execute", no_child)
        submitted = client.post("/v1/executions", json={"code": "1"})
        assert submitted.status_code == 202, submitted.text
        run_id = submitted.json()["execution_id"]
        for _ in range(200):
            record = client.get(f"/v1/executions/{run_id}").json()
            if record["state"] not in ("queued", "running"):
                break
            time.sleep(0.02)
        assert record["status"] == "error", record
        assert "no sandbox child could be made within 30 s" in record["error"]["message"]
