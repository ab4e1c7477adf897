"""Runtime API keys: who may call what."""

from __future__ import annotations

import itertools

_names = (f"auth-{i}" for i in itertools.count())


def test_execute_without_a_key_is_401(api):
    response = api.client.post("/v1/execute", json={"code": "1"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_execute_with_an_unknown_key_is_401(api):
    response = api.execute("trk_not-a-real-key", "1")
    assert response.status_code == 401
    assert api.execute("Basic abc", "1").status_code == 401


def test_execute_with_the_default_tenants_key_runs(api):
    response = api.execute(api.default_key, "6 * 7")
    assert response.status_code == 200, response.text
    assert response.json()["result"] == 42


def test_every_v1_route_needs_a_key(api):
    assert api.client.get("/v1/executions").status_code == 401
    assert api.client.get("/v1/executions/exe_x").status_code == 401
    assert api.client.post("/v1/executions", json={"code": "1"}).status_code == 401


def test_mcp_without_a_key_is_401(api):
    response = api.client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401


def test_health_readiness_and_metrics_need_no_key(api):
    assert api.client.get("/healthz").status_code == 200
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert api.client.get("/metrics").status_code == 200


def test_another_tenants_execution_answers_as_a_missing_one(api):
    _, mine = api.tenant(next(_names))
    _, theirs = api.tenant(next(_names))
    execution_id = api.execute(theirs, "'private'").json()["execution_id"]
    missing_id = "exe_" + "0" * 24
    response = api.client.get(f"/v1/executions/{execution_id}", headers=api.auth(mine))
    missing = api.client.get(f"/v1/executions/{missing_id}", headers=api.auth(mine))
    assert response.status_code == missing.status_code == 404
    body, other = response.json(), missing.json()
    assert body["error"]["code"] == other["error"]["code"] == "not_found"
    # The same words, whichever id: nothing tells an existing id from a missing one.
    assert body["error"]["message"].replace(execution_id, "ID") == other["error"][
        "message"
    ].replace(missing_id, "ID")
    assert response.headers.keys() == missing.headers.keys()
    listed = api.client.get("/v1/executions", headers=api.auth(mine)).json()["data"]
    assert execution_id not in {e["execution_id"] for e in listed}
    owner = api.client.get(f"/v1/executions/{execution_id}", headers=api.auth(theirs))
    assert owner.status_code == 200 and owner.json()["result"] == "private"


def test_an_unknown_execution_is_404(api):
    response = api.client.get("/v1/executions/exe_nope", headers=api.auth(api.default_key))
    assert response.status_code == 404


def test_a_revoked_tenants_keys_stop_working(api):
    tenant, key = api.tenant(next(_names))
    assert api.execute(key, "1").status_code == 200
    assert api.call(api.executions.tenants.revoke, tenant.name) is True
    assert api.execute(key, "1").status_code == 401


def test_keys_are_stored_hashed_and_flora_keys_encrypted(api):
    from sqlalchemy import text

    secret = "sk_live_upstream_secret_value_123"
    tenant, key = api.tenant(next(_names), flora_kind="upstream", flora_key=secret)

    async def dump() -> str:
        async with api.executions.sessions() as s:
            rows = [
                *(await s.execute(text("SELECT * FROM runtime_tenants"))).all(),
                *(await s.execute(text("SELECT * FROM runtime_keys"))).all(),
            ]
        return repr(rows)

    stored = api.call(dump)
    assert secret not in stored and key not in stored
    assert api.call(api.executions.tenants.flora_key, tenant) == secret
    listed = api.call(api.executions.tenants.list)
    assert secret not in repr(listed) and key not in repr(listed)
