"""Cancel: `DELETE /v1/executions/{id}` (and `POST .../cancel`, and the MCP `cancel` tool) kill
the child of a queued or running execution, synchronous or not, and record it `cancelled`."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

from runtime.adapters.mcp.tools import call_cancel
from runtime.executions.outcome import ExecuteResponse
from runtime.executions.request import ExecutionRequest

_names = (f"cancel-{i}" for i in itertools.count())
SLEEPER = "import time\ntime.sleep(20)\n1"


def running_ids(api, key: str) -> list[str]:
    page = api.client.get("/v1/executions?status=running", headers=api.auth(key)).json()
    return [row["execution_id"] for row in page["data"]]


def wait_running(api, key: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while not (ids := running_ids(api, key)):
        assert time.monotonic() < deadline, "no execution started"
        time.sleep(0.05)
    return ids[0]


def test_delete_kills_a_running_async_execution_and_records_it_cancelled(api):
    _, key = api.tenant(next(_names))
    queued = api.client.post("/v1/executions", json={"code": SLEEPER}, headers=api.auth(key))
    execution_id = queued.json()["execution_id"]
    wait_running(api, key)
    started = time.monotonic()
    deleted = api.client.delete(f"/v1/executions/{execution_id}", headers=api.auth(key))
    assert deleted.status_code == 200, deleted.text
    assert time.monotonic() - started < 5  # the child was killed, not waited for
    body = deleted.json()
    assert body["state"] == "done" and body["status"] == "cancelled"
    assert body["error"]["type"] == "Cancelled"
    listed = api.client.get("/v1/executions?status=cancelled", headers=api.auth(key)).json()
    assert [row["execution_id"] for row in listed["data"]] == [execution_id]
    assert api.executions.runner.pool.health()["running"] == 0
    again = api.client.delete(f"/v1/executions/{execution_id}", headers=api.auth(key))
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable"


def test_delete_kills_a_running_sync_execution_whose_caller_gets_the_cancelled_body(api):
    _, key = api.tenant(next(_names))
    answer: dict[str, Any] = {}

    def caller() -> None:
        answer["response"] = api.execute(key, SLEEPER)

    thread = threading.Thread(target=caller)
    thread.start()
    execution_id = wait_running(api, key)
    deleted = api.client.delete(f"/v1/executions/{execution_id}", headers=api.auth(key))
    thread.join(10)
    assert not thread.is_alive()
    assert deleted.status_code == 200 and deleted.json()["status"] == "cancelled"
    response = answer["response"]
    assert response.status_code == 200
    body = ExecuteResponse.model_validate(response.json())  # the response model knows it
    assert body.status == "cancelled" and body.execution_id == execution_id
    assert api.execute(key, "'after'").json()["result"] == "after"


def test_another_tenants_id_is_404_and_the_execution_goes_on(api):
    _, owner = api.tenant(next(_names))
    _, other = api.tenant(next(_names))
    queued = api.client.post("/v1/executions", json={"code": SLEEPER}, headers=api.auth(owner))
    execution_id = queued.json()["execution_id"]
    refused = api.client.delete(f"/v1/executions/{execution_id}", headers=api.auth(other))
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert (
        api.client.delete("/v1/executions/exe_missing", headers=api.auth(other)).status_code == 404
    )
    state = api.client.get(f"/v1/executions/{execution_id}", headers=api.auth(owner)).json()
    assert state["state"] in ("queued", "running")
    assert api.client.delete(f"/v1/executions/{execution_id}", headers=api.auth(owner)
                             ).json()["status"] == "cancelled"  # fmt: skip


def test_the_mcp_cancel_tool_does_the_same_for_its_tenant(api):
    tenant, key = api.tenant(next(_names))
    other, _ = api.tenant(next(_names))
    queued = api.client.post("/v1/executions", json={"code": SLEEPER}, headers=api.auth(key))
    execution_id = queued.json()["execution_id"]
    wait_running(api, key)
    foreign = api.call(call_cancel, api.executions, {"execution_id": execution_id}, other)
    assert foreign.is_error and "not_found" in foreign.content[0].text
    done = api.call(call_cancel, api.executions, {"execution_id": execution_id}, tenant)
    assert not done.is_error, done.content[0].text
    assert done.structured_content["status"] == "cancelled"
    assert "cancelled" in done.content[0].text


def test_a_cancelled_sync_run_leaves_its_callers_task_as_it_was(api: Any) -> None:
    """The script runs in the caller's own task: a cancel asked for while it runs is taken back
    once the script has ended, so the caller is answered `cancelled` and goes on awaiting (its
    task is not left cancelling)."""
    tenant, _ = api.tenant(next(_names))
    executions = api.executions

    async def scenario() -> tuple[str, int]:
        async def cancel_when_running() -> None:
            while not (
                ids := [
                    execution_id
                    for execution_id, running in executions._running.items()
                    if running.tenant.id == tenant.id and running.task is not None
                ]
            ):
                await asyncio.sleep(0.02)
            await executions.cancel(tenant, ids[0])

        canceller = asyncio.create_task(cancel_when_running())
        body = await executions.run(tenant, ExecutionRequest(SLEEPER))
        await canceller
        task = asyncio.current_task()
        assert task is not None
        left = task.cancelling()
        await asyncio.sleep(0.01)  # would raise CancelledError if a cancel were left pending
        return body["status"], left

    status, left = api.call(scenario)
    assert status == "cancelled"
    assert left == 0
