"""The admin API (/v1/admin): tenants and keys over HTTP, for the operator key only."""

from __future__ import annotations

import itertools

import pytest

_names = (f"admin-{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def operator(api) -> dict[str, str]:  # type: ignore[no-untyped-def]
    key = (api.executions.settings.data_dir / "operator-key").read_text().strip()
    return {"authorization": f"Bearer {key}"}


def test_only_the_operator_key_opens_it(api, operator):
    _, tenant_key = api.tenant(next(_names))
    none = api.client.get("/v1/admin/tenants")
    assert none.status_code == 401 and none.json()["error"]["code"] == "unauthorized"
    assert "operator key" in none.json()["error"]["message"]
    assert none.headers["www-authenticate"] == "Bearer"
    tenant = api.client.get("/v1/admin/tenants", headers=api.auth(tenant_key))
    assert tenant.status_code == 403 and tenant.json()["error"]["code"] == "forbidden"
    assert "operator key" in tenant.json()["error"]["message"]
    wrong = api.client.get("/v1/admin/keys", headers=api.auth("tro_" + "x" * 43))
    assert wrong.status_code == 401
    for method, path in [
        ("post", "/v1/admin/tenants"),
        ("patch", "/v1/admin/tenants/x"),
        ("post", "/v1/admin/keys"),
        ("post", "/v1/admin/keys/key_x/rotate"),
        ("post", "/v1/admin/keys/key_x/revoke"),
    ]:
        assert api.client.request(method, path, json={}).status_code == 401
        answer = api.client.request(method, path, json={}, headers=api.auth(tenant_key))
        assert answer.status_code == 403
    assert api.client.get("/v1/admin/tenants", headers=operator).status_code == 200


def test_a_tenant_key_refused_by_the_admin_api_is_not_recorded_as_used(api, operator):
    name = next(_names)
    _, tenant_key = api.tenant(name)
    answer = api.client.get("/v1/admin/keys", headers=api.auth(tenant_key))
    assert answer.status_code == 403
    (key,) = api.call(api.executions.tenants.keys, name)
    assert key.last_used_at is None


def test_tenants_create_list_update_revoke(api, operator):
    name = next(_names)
    made = api.client.post(
        "/v1/admin/tenants",
        json={"name": name, "flora": "server", "max_concurrent": 3, "label": "first"},
        headers=operator,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    secret = body["runtime_key"]
    assert body["tenant"]["limits"]["max_concurrent"] == 3
    assert body["key"]["label"] == "first" and secret.startswith(body["key"]["prefix"])
    assert api.execute(secret, "6 * 7").json()["result"] == 42

    listed = api.client.get("/v1/admin/tenants", headers=operator)
    assert name in {t["name"] for t in listed.json()["data"]} and secret not in listed.text

    changed = api.client.patch(
        f"/v1/admin/tenants/{name}",
        json={"per_minute": 7, "max_concurrent": None, "workspaces": ["ws_a"]},
        headers=operator,
    )
    assert changed.status_code == 200, changed.text
    limits = changed.json()["tenant"]["limits"]
    assert limits["per_minute"] == 7
    assert limits["max_concurrent"] == api.executions.settings.tenant_max_concurrent
    assert changed.json()["tenant"]["workspaces"] == ["ws_a"]
    assert "at once on this server" in changed.json()["effect"]
    got = api.client.get(f"/v1/admin/tenants/{name}", headers=operator).json()
    assert got["limits"]["per_minute"] == 7

    again = api.client.post(
        "/v1/admin/tenants", json={"name": name, "flora": "server"}, headers=operator
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    revoked = api.client.post(f"/v1/admin/tenants/{name}/revoke", headers=operator)
    assert revoked.status_code == 200
    assert "at once on this server" in revoked.json()["effect"]
    assert "TERRARIUM_KEY_CACHE_S" in revoked.json()["effect"]
    assert "was revoked" in api.execute(secret, "1").json()["error"]["message"]
    gone = api.client.post(f"/v1/admin/tenants/{name}/revoke", headers=operator)
    assert gone.status_code == 404


@pytest.mark.parametrize("bad", ["Acme", "-acme", "a b", "x" * 64, "ac.me", ""])
def test_tenant_names_follow_one_rule(api, operator, bad):
    answer = api.client.post(
        "/v1/admin/tenants", json={"name": bad, "flora": "server"}, headers=operator
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_name" and "[a-z0-9][a-z0-9_-]{0,62}" in error["message"]
    assert error["fields"][0]["field"] == "name"


def test_invalid_changes_are_refused(api, operator):
    name = next(_names)
    api.tenant(name)
    bad = api.client.patch(f"/v1/admin/tenants/{name}", json={"per_minute": 0}, headers=operator)
    assert bad.status_code == 422
    unknown = api.client.patch(f"/v1/admin/tenants/{name}", json={"colour": 1}, headers=operator)
    assert unknown.status_code == 422
    widen = api.client.patch(f"/v1/admin/tenants/{name}", json={"workspaces": []}, headers=operator)
    assert widen.status_code == 422 and "send null" in widen.json()["error"]["message"]
    empty = api.client.patch(f"/v1/admin/tenants/{name}", json={}, headers=operator)
    assert empty.status_code == 422 and "nothing to change" in empty.json()["error"]["message"]
    missing = api.client.patch("/v1/admin/tenants/nobody", json={"per_minute": 3}, headers=operator)
    assert missing.status_code == 404


def test_keys_create_list_rotate_revoke(api, operator):
    name = next(_names)
    _, first = api.tenant(name)
    made = api.client.post(
        "/v1/admin/keys",
        json={"tenant": name, "label": "ci", "expires_in": "30d"},
        headers=operator,
    )
    assert made.status_code == 201, made.text
    ci = made.json()
    assert ci["key"]["label"] == "ci" and ci["key"]["expires_at"] is not None
    assert api.execute(ci["runtime_key"], "1").status_code == 200

    listed = api.client.get(f"/v1/admin/keys?tenant={name}", headers=operator)
    assert listed.status_code == 200
    assert {k["label"] for k in listed.json()["data"]} == {"default", "ci"}
    assert ci["runtime_key"] not in listed.text and first not in listed.text
    assert "runtime_key" not in listed.text

    rotated = api.client.post(
        f"/v1/admin/keys/{ci['key']['id']}/rotate", json={"grace": "1h"}, headers=operator
    )
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["old"]["state"] == "grace" and body["key"]["label"] == "ci"
    assert "keeps working until" in body["effect"]
    assert api.execute(ci["runtime_key"], "1").status_code == 200  # during its grace
    assert api.execute(body["runtime_key"], "1").status_code == 200

    at_once = api.client.post(f"/v1/admin/keys/{body['key']['prefix']}/rotate", headers=operator)
    assert at_once.status_code == 200, at_once.text
    assert "was revoked" in api.execute(body["runtime_key"], "1").json()["error"]["message"]

    revoked = api.client.post(
        f"/v1/admin/keys/{at_once.json()['key']['id']}/revoke", headers=operator
    )
    assert revoked.status_code == 200 and revoked.json()["was_working"] is True
    assert revoked.json()["key"]["state"] == "revoked"
    assert "at once on this server" in revoked.json()["effect"]
    assert api.execute(at_once.json()["runtime_key"], "1").status_code == 401

    bad = api.client.post(
        "/v1/admin/keys", json={"tenant": name, "expires_in": "soon"}, headers=operator
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_duration"
    nobody = api.client.post("/v1/admin/keys", json={"tenant": "nobody"}, headers=operator)
    assert nobody.status_code == 404
    unknown = api.client.post("/v1/admin/keys/key_0000/revoke", headers=operator)
    assert unknown.status_code == 404


def test_the_schemas_are_in_the_openapi_document(api):
    document = api.client.get("/openapi.json").json()
    paths = document["paths"]
    assert {"/v1/admin/tenants", "/v1/admin/keys", "/v1/admin/keys/{key}/rotate"} <= set(paths)
    schemas = document["components"]["schemas"]
    assert {"TenantCreate", "TenantUpdate", "KeyCreate", "KeyCreated", "KeyOut"} <= set(schemas)
    assert "runtime_key" in schemas["KeyCreated"]["properties"]
    assert "runtime_key" not in schemas["KeyOut"]["properties"]


def test_an_operator_key_from_the_environment_replaces_the_generated_one(api_with):
    with api_with() as api:
        generated = (api.executions.settings.data_dir / "operator-key").read_text().strip()
        assert api.client.get("/v1/admin/keys", headers=api.auth(generated)).status_code == 200
    with api_with(operator_key="tro_set-by-the-operator-0123456789") as api:  # a restart
        headers = api.auth("tro_set-by-the-operator-0123456789")
        assert api.client.get("/v1/admin/keys", headers=headers).status_code == 200
        assert api.client.get("/v1/admin/keys", headers=api.auth(generated)).status_code == 401
        assert api.client.get("/v1/admin/keys", headers=api.auth("tro_other")).status_code == 401


@pytest.mark.parametrize("weak", ["admin", "tro_short", "trk_" + "k" * 43])
def test_a_weak_or_tenant_shaped_operator_key_is_refused_by_name(weak, monkeypatch):
    from runtime.adapters.cli.config import ConfigError, load

    monkeypatch.setenv("TERRARIUM_OPERATOR_KEY", weak)
    with pytest.raises(ConfigError) as refused:
        load()
    (line,) = refused.value.lines
    assert "TERRARIUM_OPERATOR_KEY" in line and "at least 24 characters" in line
    assert "token_urlsafe" in line and weak not in line  # the secret is never echoed
    monkeypatch.setenv("TERRARIUM_OPERATOR_KEY", "")  # empty: unset, a key is made
    assert load().operator_key is None
