"""Shutdown and drain, on a real `terrarium serve`: on SIGTERM the server refuses new executions
(503, shutting_down, retry-after) and says it is not ready, lets running executions finish
within TERRARIUM_DRAIN_S, and fails those still running after it, saying the server shut down
(a synchronous caller is answered 503)."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from served import ServedTerrarium, clean_env
from test_webhooks import Receiver

pytestmark = pytest.mark.slow


def serve(root: Path, drain_s: str) -> ServedTerrarium:
    env = clean_env(
        TERRARIUM_BACKEND_SPEED="0", TERRARIUM_POOL_WARM="2", TERRARIUM_DRAIN_S=drain_s,
        TERRARIUM_WEBHOOKS_ALLOW_PRIVATE="true",
    )  # fmt: skip
    return ServedTerrarium(env, root)


def wait_state(server: ServedTerrarium, headers: dict[str, str], execution_id: str) -> str:
    deadline = time.monotonic() + 30
    while True:
        url = f"{server.base}/v1/executions/{execution_id}"
        state = str(httpx.get(url, headers=headers).json().get("state"))
        if state != "queued" or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def records(server: ServedTerrarium, *ids: str) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(server.data_dir / "terrarium.db") as db:
        marks = ",".join("?" * len(ids))
        rows = db.execute(
            f"SELECT id, state, status, error FROM runtime_executions WHERE id IN ({marks})", ids
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_sigterm_refuses_new_work_and_lets_running_executions_finish(tmp_path):
    server = serve(tmp_path / "a", drain_s="120")
    try:
        headers = {"authorization": f"Bearer {server.key}"}
        queued = httpx.post(
            server.base + "/v1/executions",
            json={"code": "import time\ntime.sleep(2)\n'finished'"},
            headers=headers,
        )
        execution_id = queued.json()["execution_id"]
        assert wait_state(server, headers, execution_id) == "running"
        server.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while True:  # the signal is handled between two requests
            refused = httpx.post(
                server.base + "/v1/executions", json={"code": "1"}, headers=headers
            )
            if refused.status_code == 503 or time.monotonic() > deadline:
                break
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "shutting_down"
        assert "shutting down" in refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) > 0
        sync = httpx.post(server.base + "/v1/execute", json={"code": "1"}, headers=headers)
        assert sync.status_code == 503
        ready = httpx.get(server.base + "/readyz")
        assert ready.status_code == 503 and ready.json()["draining"] is True
        # reading still works while it drains
        during = httpx.get(f"{server.base}/v1/executions/{execution_id}", headers=headers)
        assert during.status_code == 200
        assert server.proc.wait(timeout=60) is not None
    finally:
        server.stop()
    state, status, _ = records(server, execution_id)[execution_id]
    assert (state, status) == ("done", "ok")


def test_what_is_still_running_after_the_drain_period_is_failed(tmp_path):
    server = serve(tmp_path / "b", drain_s="0")
    hook = Receiver([200])
    try:
        headers = {"authorization": f"Bearer {server.key}"}
        long = {"code": "import time\ntime.sleep(60)", "timeout_s": 120}
        hooked = {**long, "webhook_url": hook.url}
        queued = httpx.post(server.base + "/v1/executions", json=hooked, headers=headers)
        async_id = queued.json()["execution_id"]
        answers: list[httpx.Response] = []
        caller = threading.Thread(
            target=lambda: answers.append(
                httpx.post(server.base + "/v1/execute", json=long, headers=headers, timeout=120)
            )
        )
        caller.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = httpx.get(
                server.base + "/v1/executions", params={"status": "running"}, headers=headers
            ).json()["data"]
            if len(running) == 2:
                break
            time.sleep(0.05)
        sync_id = next(r["execution_id"] for r in running if r["execution_id"] != async_id)
        assert wait_state(server, headers, async_id) == "running"
        server.proc.send_signal(signal.SIGTERM)
        caller.join(timeout=60)
        assert server.proc.wait(timeout=60) is not None
    finally:
        server.stop()
        hook.close()
    assert answers[0].status_code == 503, answers[0].text
    error = answers[0].json()["error"]
    assert error["code"] == "shutting_down"
    assert "the server shut down before the execution finished" in error["message"]
    assert "TERRARIUM_DRAIN_S" in error["message"]
    assert sync_id in error["message"]  # the caller can read its record
    found = records(server, async_id, sync_id)
    for execution_id in (async_id, sync_id):
        state, status, stored_error = found[execution_id]
        assert (state, status) == ("failed", "error")
        assert "the server shut down before the execution finished" in stored_error
    # the failed execution's webhook went out before the server stopped
    assert len(hook.requests) == 1
    posted = json.loads(hook.requests[0][1])
    assert (posted["execution_id"], posted["state"]) == (async_id, "failed")
    assert "the server shut down" in posted["error"]["message"]
