"""Money an execution cannot lose (max_cost_usd, cost_usd, Idempotency-Key) and hints that name
the fix (a memory kill, a timeout by transport, a duplicate key's run id as a field)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from runtime.executions.outcome import fix_hints
from runtime.flora import duplicate_run_id

GENERATE = """
def run(client):
    ws = client.workspaces.list().workspaces[0].workspace_id
    prj = client.projects.create(name="p", workspace_id=ws).project_id
    out = []
    for _ in range(inputs["n"]):
        start = client.generations.create(type="image", prompt="a fox", workspace_id=ws,
                                          project_id=prj, model="t2i-flux-2-pro")
        out.append(start.run_id)
    return out
"""  # t2i-flux-2-pro: 50 credits, $0.05 a run


def test_a_paid_call_over_max_cost_is_refused_in_the_host(run: Any) -> None:
    body = run(GENERATE, inputs={"n": 3}, max_cost_usd=0.12)
    assert body["status"] == "error", body
    error = body["error"]
    assert error["type"] == "InsufficientCreditsError", error
    assert "max_cost_usd" in error["message"] and "nothing was sent" in error["message"]
    assert "$0.0500" in error["message"]
    creates = [c for c in body["calls"] if c["method"] == "generations.create"]
    # two made and billed, the third refused before it left the host
    assert [c["status"] for c in creates] == ["ok", "ok", "error"]
    assert creates[-1]["error_code"] == "budget_exceeded" and creates[-1]["http_status"] == 402
    assert abs(body["cost_usd"] - 0.10) < 1e-6


def test_cost_spent_is_reported_and_recorded(api: TestClient, run: Any) -> None:
    body = run(GENERATE, inputs={"n": 1})
    assert body["status"] == "ok", body
    assert abs(body["cost_usd"] - 0.05) < 1e-6
    record = api.get(f"/v1/executions/{body['execution_id']}").json()
    assert abs(record["cost_usd"] - 0.05) < 1e-6
    assert run("1 + 1")["cost_usd"] == 0.0


def test_tenant_default_max_cost(settings_factory: Any) -> None:
    from runtime.app import create_app

    with TestClient(create_app(settings_factory(max_cost_usd=0.03))) as api:
        api.headers["authorization"] = f"Bearer {api.app.state.executions.default_key}"  # type: ignore[attr-defined]
        body = api.post("/v1/execute", json={"code": GENERATE, "inputs": {"n": 1}}).json()
        assert body["status"] == "error" and body["cost_usd"] == 0.0, body
        assert "max_cost_usd" in body["error"]["message"]
        # the request's own max_cost_usd wins over the default
        body = api.post(
            "/v1/execute", json={"code": GENERATE, "inputs": {"n": 1}, "max_cost_usd": 1}
        ).json()
        assert body["status"] == "ok", body


def test_the_same_idempotency_key_answers_the_same_execution(api: TestClient) -> None:
    request = {"code": GENERATE, "inputs": {"n": 1}}
    headers = {"Idempotency-Key": "retry-after-network-error-1"}
    first = api.post("/v1/execute", json=request, headers=headers)
    again = api.post("/v1/execute", json=request, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json()["execution_id"] == first.json()["execution_id"]
    assert again.json()["result"] == first.json()["result"]  # the same run, paid once
    # async with the same key: the same execution, not a new one
    queued = api.post("/v1/executions", json=request, headers=headers)
    assert queued.json()["execution_id"] == first.json()["execution_id"], queued.text
    # another tenant-scoped key runs again
    other = api.post("/v1/execute", json=request, headers={"Idempotency-Key": "another"})
    assert other.json()["execution_id"] != first.json()["execution_id"]
    # the same key for other code is refused, naming the field
    conflict = api.post("/v1/execute", json={"code": "1"}, headers=headers)
    assert conflict.status_code == 422, conflict.text
    error = conflict.json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["fields"][0]["field"] == "idempotency_key"


def test_an_async_submission_with_a_key_runs_once(api: TestClient) -> None:
    headers = {"Idempotency-Key": "async-once"}
    a = api.post("/v1/executions", json={"code": "41 + 1"}, headers=headers).json()
    b = api.post("/v1/executions", json={"code": "41 + 1"}, headers=headers).json()
    assert a["execution_id"] == b["execution_id"]
    again = api.post("/v1/execute", json={"code": "41 + 1"}, headers=headers).json()
    assert again["execution_id"] == a["execution_id"] and again["result"] == 42


def test_a_key_refused_at_admission_is_released(api: TestClient) -> None:
    headers = {"Idempotency-Key": "too-long-first"}
    refused = api.post("/v1/execute", json={"code": "1", "timeout_s": 10_000}, headers=headers)
    assert refused.status_code == 422
    ok = api.post("/v1/execute", json={"code": "1"}, headers=headers)
    assert ok.status_code == 200 and ok.json()["status"] == "ok"


def test_a_memory_kill_names_the_limit_and_the_knob(run: Any) -> None:
    body = run("x = bytearray(400 * 1024 * 1024)\nlen(x)", memory_mb=64)
    assert body["status"] == "limit_exceeded", body
    error = body["error"]
    assert "64 MB" in error["message"] and "memory_mb" in error["message"], error
    assert "memory_mb" in error["hint"]


def test_a_timeout_hint_names_only_what_the_transport_offers() -> None:
    timeout = {"type": "Timeout", "message": "ran past", "hint": "old"}
    http = fix_hints(timeout, 256, "http")
    mcp = fix_hints(timeout, 256, "mcp")
    cli = fix_hints(timeout, 256, "cli")
    assert http and "POST /v1/executions" in http["hint"]
    assert mcp and "`submit`" in mcp["hint"] and "/v1/" not in mcp["hint"]
    assert cli and "asynchronous" not in cli["hint"] and "submit" not in cli["hint"]


def test_timeout_over_http_points_at_async_executions(run: Any) -> None:
    body = run("import time\nwhile True:\n    pass", timeout_s=1, cpu_s=5)
    assert body["status"] == "timeout", body
    assert "POST /v1/executions" in body["error"]["hint"]


def test_a_duplicate_key_exposes_the_run_id_as_a_field(run: Any) -> None:
    assert (
        duplicate_run_id(
            "A request with Idempotency-Key 'k' was already made in the last 2 hours. It started "
            "run run_0a1b2c; poll that run instead."
        )
        == "run_0a1b2c"
    )
    body = run(
        """
def run(client):
    args = dict(inputs=[{"id": "title", "type": "text", "value": "Launch"}], mode="async",
                idempotency_key="same-key-twice")
    first = client.techniques.runs.create("thumbnail-v3", **args)
    try:
        client.techniques.runs.create("thumbnail-v3", **args)
    except ConflictError as e:
        return [first.run_id, {f["field"]: f["message"] for f in e.fields}, str(e)]
"""
    )
    assert body["status"] == "ok", body
    first, fields, text = body["result"]
    assert fields.get("run_id") == first, body
    assert "generations.retrieve" in text or "retrieve" in text
    assert body["calls"][-1]["run_id"] == first
