"""Every execution recorded; asynchronous runs; per-tenant limits; dead replicas' executions."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

_names = (f"exe-{i}" for i in itertools.count())


def wait_done(api, key: str, execution_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.client.get(f"/v1/executions/{execution_id}", headers=api.auth(key)).json()
        if body["state"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_a_sync_execution_is_recorded_with_code_hash_intent_and_limits(api):
    _, key = api.tenant(next(_names))
    code = "print('hello')\n{'n': 1}"
    body = api.execute(key, code, intent="say hello", timeout_s=5).json()
    record = api.client.get(f"/v1/executions/{body['execution_id']}", headers=api.auth(key))
    record = record.json()
    assert record["state"] == "done" and record["status"] == "ok"
    assert record["code"] == code and len(record["code_sha256"]) == 64
    assert record["intent"] == "say hello"
    assert record["limits"]["timeout_s"] == 5
    assert record["stdout"] == "hello\n" and record["result"] == {"n": 1}
    assert record["created_at"] and record["finished_at"]


def test_an_async_execution_answers_202_then_the_execute_body(api):
    _, key = api.tenant(next(_names))
    code = "import time\ntime.sleep(0.3)\nprint('x')\n[1, 2]"
    response = api.client.post("/v1/executions", json={"code": code}, headers=api.auth(key))
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]
    assert response.headers["location"] == f"/v1/executions/{execution_id}"
    early = api.client.get(f"/v1/executions/{execution_id}", headers=api.auth(key)).json()
    assert early["state"] in ("queued", "running")
    done = wait_done(api, key, execution_id)
    sync = api.execute(key, code).json()
    assert done["state"] == "done"
    for field in sync:
        if field not in ("execution_id", "duration_ms", "cpu_ms"):
            assert done[field] == sync[field], field
    assert done["execution_id"] == execution_id


def test_cancelling_an_async_execution_records_it_cancelled_and_frees_its_slot(api):
    _, key = api.tenant(next(_names), max_concurrent=1)
    code = "import time\ntime.sleep(20)\n1"
    queued = api.client.post("/v1/executions", json={"code": code}, headers=api.auth(key))
    execution_id = queued.json()["execution_id"]
    cancelled = api.client.post(f"/v1/executions/{execution_id}/cancel", headers=api.auth(key))
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["state"] == "done" and body["status"] == "cancelled"
    assert body["error"]["type"] == "Cancelled"
    assert api.execute(key, "'next'").json()["result"] == "next"  # the slot was released
    again = api.client.post(f"/v1/executions/{execution_id}/cancel", headers=api.auth(key))
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable"


def test_another_tenants_execution_cannot_be_cancelled_or_told_apart(api):
    _, owner = api.tenant(next(_names))
    _, other = api.tenant(next(_names))
    code = "import time\ntime.sleep(20)\n1"
    queued = api.client.post("/v1/executions", json={"code": code}, headers=api.auth(owner))
    execution_id = queued.json()["execution_id"]
    refused = api.client.post(f"/v1/executions/{execution_id}/cancel", headers=api.auth(other))
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    mine = api.client.post(f"/v1/executions/{execution_id}/cancel", headers=api.auth(owner))
    assert mine.status_code == 200 and mine.json()["status"] == "cancelled"


def test_async_requests_are_validated_before_queueing(api):
    _, key = api.tenant(next(_names))
    response = api.client.post(
        "/v1/executions", json={"code": "1", "timeout_s": 10_000}, headers=api.auth(key)
    )
    assert response.status_code == 422
    response = api.client.post("/v1/executions", json={"code": "  "}, headers=api.auth(key))
    assert response.status_code == 422


def test_listing_filters_by_status_and_since_and_pages_with_a_cursor(api):
    _, key = api.tenant(next(_names))
    for i in range(5):
        api.execute(key, f"{i}")
    api.execute(key, "1/0")
    h = api.auth(key)
    errors = api.client.get("/v1/executions?status=error", headers=h).json()["data"]
    assert len(errors) == 1 and errors[0]["status"] == "error"
    done = api.client.get("/v1/executions?status=done", headers=h).json()["data"]
    assert len(done) == 6
    seen, cursor = [], None
    while True:
        url = "/v1/executions?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.client.get(url, headers=h).json()
        seen += [e["execution_id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 6 == len(set(seen))
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    later = api.client.get("/v1/executions", params={"since": future}, headers=h).json()
    assert later["data"] == []


def test_with_no_queue_time_over_the_concurrency_limit_is_429_at_once(api_with):
    with api_with(tenant_queue_s=0) as api:
        _, key = api.tenant(next(_names), max_concurrent=1)
        slow = api.client.post("/v1/executions", json={"code": "import time\ntime.sleep(1.5)\n1"},
                               headers=api.auth(key))  # fmt: skip
        assert slow.status_code == 202
        refused = api.execute(key, "2")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_executions"
        assert int(refused.headers["retry-after"]) >= 1
        wait_done(api, key, slow.json()["execution_id"])
        assert api.execute(key, "3").status_code == 200


def test_over_the_rate_limit_is_429_with_retry_after(api):
    _, key = api.tenant(next(_names), per_minute=3)
    for _ in range(3):
        assert api.execute(key, "1").status_code == 200
    refused = api.execute(key, "1")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_a_tenants_maxima_cap_what_a_request_may_ask(api):
    _, key = api.tenant(next(_names), max_timeout_s=5, max_memory_mb=128)
    assert api.execute(key, "1", timeout_s=5).status_code == 200
    response = api.execute(key, "1", timeout_s=6)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "limit_above_maximum"
    assert api.execute(key, "1", memory_mb=200).status_code == 422
    record = api.client.get(
        f"/v1/executions/{api.execute(key, '1').json()['execution_id']}", headers=api.auth(key)
    ).json()
    assert record["limits"]["timeout_s"] == 5 and record["limits"]["memory_mb"] == 128


def test_a_call_naming_another_workspace_is_refused_in_the_host(api):
    _, key = api.tenant(next(_names), builtin=True)
    other, _ = api.tenant(next(_names), builtin=True)
    theirs = other.workspaces[0]
    code = f"def run(client):\n    return client.projects.list(workspace_id={theirs!r})"
    body = api.execute(key, code).json()
    assert body["status"] == "error"
    assert body["error"]["type"] == "PermissionDeniedError", body["error"]
    assert "not a workspace this key may use" in body["error"]["message"]
    assert body["calls"][0]["error_code"] == "workspace_forbidden"


def test_a_tenant_works_in_its_own_backend_workspace_and_cannot_see_others(api):
    mine, key = api.tenant(next(_names), builtin=True)
    other, other_key = api.tenant(next(_names), builtin=True)
    make = (
        "def run(client):\n"
        "    return client.projects.create(name='p', workspace_id={!r}).project_id"
    )
    theirs = api.execute(other_key, make.format(other.workspaces[0])).json()
    assert theirs["status"] == "ok", (theirs["error"], theirs["calls"])
    own = api.execute(key, make.format(mine.workspaces[0])).json()
    assert own["status"] == "ok", own
    peek = f"def run(client):\n    return client.projects.retrieve({theirs['result']!r})"
    body = api.execute(key, peek).json()
    assert body["status"] == "error" and body["calls"][0]["http_status"] == 404, body


def test_executions_of_a_replica_with_a_stale_heartbeat_are_failed(api):
    from runtime.db import utcnow
    from runtime.executions.records import ExecutionRow, InstanceRow

    tenant, key = api.tenant(next(_names))
    old = utcnow() - timedelta(hours=1)

    async def orphan() -> None:
        async with api.executions.sessions() as s, s.begin():
            s.add(InstanceRow(id="ins_dead", host="h", pid=1, started_at=old, heartbeat_at=old))
            await s.flush()
            s.add(
                ExecutionRow(
                    id="exe_orphan", tenant_id=tenant.id, instance_id="ins_dead", mode="async",
                    state="running", code="1", code_sha256="0" * 64, limits={}, stdout="",
                    result_truncated=False, stdout_truncated=False, duration_ms=0, cpu_ms=0,
                    call_count=0, created_at=old, started_at=old,
                )
            )  # fmt: skip

    api.call(orphan)
    assert api.call(api.executions.replica.reap) >= 1
    record = api.client.get("/v1/executions/exe_orphan", headers=api.auth(key)).json()
    assert record["state"] == "failed" and record["status"] == "error"
    assert "the server running it stopped" in record["error"]["message"]


def test_metrics_count_executions_calls_and_the_pool(api):
    _, key = api.tenant(next(_names), builtin=True)
    api.execute(key, "def run(client):\n    return client.models.list()")
    api.execute(key, "while True: pass", timeout_s=1)
    text = api.client.get("/metrics").text
    assert 'terrarium_executions_total{status="ok"}' in text
    assert 'terrarium_executions_total{status="timeout"}' in text
    assert 'terrarium_client_calls_total{method="models.list",status="ok"}' in text
    assert "terrarium_execution_duration_seconds_bucket" in text
    assert "terrarium_execution_cpu_seconds_bucket" in text
    assert "terrarium_pool_warm_children" in text and "terrarium_pool_size_max" in text
    assert "terrarium_limit_kills_total" in text
