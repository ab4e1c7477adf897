"""A replica whose zygote cannot fork (its process limit) and has no child warm cannot start an
execution: /readyz answers 503 and says why, /healthz says degraded, and the metric reads 0;
with a child still warm, or once a fork succeeds, it is ready again."""

from __future__ import annotations

import collections
from typing import Any

from fastapi.testclient import TestClient
from runtime_settings import make_settings

from runtime.app import create_app


def test_readiness_follows_whether_an_execution_can_start(tmp_path: Any) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        pool = app.state.executions.runner.pool
        assert client.get("/readyz").status_code == 200
        warm, pool._idle = pool._idle, collections.deque()
        try:
            pool._fork_failing = True
            r = client.get("/readyz")
            assert r.status_code == 503 and "process limit" in r.json()["pool"], r.text
            assert client.get("/healthz").json()["status"] == "degraded"
            assert "terrarium_pool_forking 0.0" in client.get("/metrics").text
            pool._idle = warm  # a child still warm: an execution can start
            assert client.get("/readyz").status_code == 200
        finally:
            pool._idle = warm
            pool._fork_failing = False
        assert client.get("/readyz").status_code == 200
        assert "terrarium_pool_forking 1.0" in client.get("/metrics").text
