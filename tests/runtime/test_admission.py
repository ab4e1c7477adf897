"""Concurrency beyond the pool waits in a bounded queue; past that, 503 with retry-after."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from runtime.app import create_app


def test_past_the_queue_requests_get_503_with_retry_after(settings_factory):
    settings = settings_factory(pool_max=1, queue_max=1, pool_warm=1)
    with TestClient(create_app(settings)) as api:
        api.headers["authorization"] = f"Bearer {api.app.state.executions.default_key}"
        code = "import time\ntime.sleep(0.5)\n'slow'"

        def one(_: int):
            return api.post("/v1/execute", json={"code": code})

        with ThreadPoolExecutor(5) as pool:
            responses = list(pool.map(one, range(5)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) >= 2  # one running, one queued
        busy = [r for r in responses if r.status_code == 503]
        assert busy, statuses
        assert busy[0].headers["retry-after"] == "1"
        assert busy[0].json()["error"]["code"] == "busy"
        for r in responses:
            if r.status_code == 200:
                assert r.json()["result"] == "slow"
        assert api.post("/v1/execute", json={"code": "1"}).json()["result"] == 1
