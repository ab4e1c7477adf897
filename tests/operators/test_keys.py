"""Runtime keys an operator manages: several per tenant, labelled, expiring, revoked by id or
prefix, rotated with a grace period; expired, revoked and unknown keys answer 401 saying which."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest

from runtime.adapters.errors import report
from runtime.db import utcnow
from runtime.tenancy.errors import AmbiguousKey
from runtime.tenancy.keyfiles import hash_key
from runtime.tenancy.tenants import parse_duration

_names = (f"keys-{i}" for i in itertools.count())


def test_keys_create_list_revoke_rotate_from_the_cli(cli):
    assert cli("tenants", "create", "acme", "--server-flora")[0] == 0
    code, out, err = cli(
        "keys", "create", "--tenant", "acme", "--label", "ci", "--expires-in", "30d"
    )
    assert code == 0, err
    made = json.loads(out)
    secret = made["runtime_key"]
    assert secret.startswith("trk_") and "not shown again" in err
    key = made["key"]
    assert key["label"] == "ci" and key["tenant"] == "acme" and key["state"] == "active"
    assert key["id"].startswith("key_") and secret.startswith(key["prefix"])
    assert key["expires_at"] > utcnow().isoformat()[:10]

    code, out, _ = cli("keys", "list", "--tenant", "acme")
    listed = json.loads(out)
    assert code == 0 and secret not in out
    assert sorted(k["label"] for k in listed) == ["ci", "default"]
    assert {
        "id",
        "prefix",
        "label",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    } <= set(listed[0])

    code, out, err = cli("keys", "rotate", key["id"], "--grace", "1h")
    assert code == 0, err
    rotated = json.loads(out)
    assert rotated["key"]["label"] == "ci" and rotated["key"]["tenant"] == "acme"
    assert rotated["key"]["expires_at"] is not None  # the same lifetime, from now
    assert rotated["old"]["state"] == "grace" and "keeps working until" in err

    code, out, _ = cli("keys", "revoke", key["prefix"])  # the old key, by its prefix
    assert code == 0 and "stops working within 7 s (TERRARIUM_KEY_CACHE_S)" in out
    code, out, _ = cli("keys", "list")
    states = {k["id"]: k["state"] for k in json.loads(out)}
    assert states[key["id"]] == "revoked" and states[rotated["key"]["id"]] == "active"

    code, _, err = cli("keys", "revoke", "key_nosuchkey")
    assert code == 1 and "no key 'key_nosuchkey'" in err
    code, _, err = cli("keys", "revoke", "trk_")
    assert code == 1 and "too short" in err
    code, _, err = cli("keys", "create", "--tenant", "nobody", "--label", "x")
    assert code == 1 and "no active tenant 'nobody'" in err
    code, _, err = cli("keys", "create", "--tenant", "acme", "--expires-in", "soon")
    assert code == 1 and "not a duration" in err and "30d" in err


def test_a_tenant_revocation_says_when_it_takes_effect(cli):
    assert cli("tenants", "create", "gone", "--server-flora")[0] == 0
    code, out, _ = cli("tenants", "revoke", "gone")
    assert code == 0
    assert "within 7 s (TERRARIUM_KEY_CACHE_S) on running servers" in out


def test_durations():
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("2w") == timedelta(weeks=2)
    assert parse_duration("45") == timedelta(seconds=45)
    for bad in ("", "1y", "-1h", "h", "1 hour"):
        with pytest.raises(Exception, match="not a duration"):
            parse_duration(bad)


# ------------------------------------------------------------------------- on the running app


def _refusal(api, key):  # type: ignore[no-untyped-def]
    response = api.execute(key, "1")
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    return response.json()["error"]["message"]


def test_expired_revoked_and_unknown_keys_say_which(api):
    store = api.executions.tenants
    tenant, key = api.tenant(next(_names))
    assert api.execute(key, "1").status_code == 200
    expired = api.call(store.add_key, tenant.id, "old", utcnow() - timedelta(seconds=1))
    revoked = api.call(store.add_key, tenant.id, "lost")
    api.call(store.revoke_key, revoked[:12])

    messages = {
        "expired": _refusal(api, expired),
        "revoked": _refusal(api, revoked),
        "unknown": _refusal(api, "trk_" + "x" * 43),
        "missing": api.client.post("/v1/execute", json={"code": "1"}).json()["error"]["message"],
    }
    assert "expired at" in messages["expired"]
    assert "was revoked" in messages["revoked"]
    assert "not known" in messages["unknown"]
    assert "is required" in messages["missing"]
    for message in messages.values():  # nothing about the tenant the key belonged to
        assert tenant.name not in message and tenant.id not in message
    assert api.execute(key, "1").status_code == 200  # its other key still works

    mcp = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    for refused, said in ((expired, "expired at"), (revoked, "was revoked")):  # /mcp says so too
        answer = api.client.post("/mcp", json=mcp, headers={"authorization": f"Bearer {refused}"})
        assert answer.status_code == 401 and said in answer.json()["error"]["message"]


def test_revoking_a_key_in_this_process_is_immediate_even_when_cached(api, monkeypatch):
    monkeypatch.setattr(api.executions.tenants.cache, "ttl_s", 60.0)  # cached a while
    store = api.executions.tenants
    tenant, key = api.tenant(next(_names))
    spare = api.call(store.add_key, tenant.id, "spare")
    assert api.execute(key, "1").status_code == 200
    assert store.cache.get(hash_key(key)) is not None  # cached for 60 s
    info, was_working = api.call(store.revoke_key, key[:12])
    assert was_working and info.state() == "revoked"
    assert "was revoked" in _refusal(api, key)
    assert api.execute(spare, "1").status_code == 200
    assert "at once on this server" in store.revocation_effect(here=True)


def test_rotation_without_grace_revokes_at_once_and_with_grace_later(api, monkeypatch):
    monkeypatch.setattr(api.executions.tenants.cache, "ttl_s", 60.0)  # cached a while
    store = api.executions.tenants
    tenant, key = api.tenant(next(_names))
    assert api.execute(key, "1").status_code == 200
    assert store.cache.get(hash_key(key)) is not None  # cached for 60 s
    (first,) = api.call(store.keys, tenant.name)
    old, new, secret = api.call(store.rotate_key, first.id, None)
    assert new.label == old.label == "default" and new.tenant_id == tenant.id
    assert "was revoked" in _refusal(api, key)
    assert api.execute(secret, "1").status_code == 200

    old, _, newer = api.call(store.rotate_key, secret[:12], timedelta(hours=1))
    assert old.state() == "grace"
    assert api.execute(secret, "1").status_code == 200  # within its grace
    assert api.execute(newer, "1").status_code == 200
    assert "keeps working until" in store.rotation_effect(old, here=True)


def test_a_cached_key_stops_at_the_end_its_grace_set(api, monkeypatch):
    """The cache keeps when a key ends: past that, the database answers (revoked)."""
    monkeypatch.setattr(api.executions.tenants.cache, "ttl_s", 60.0)  # cached a while
    store = api.executions.tenants
    tenant, key = api.tenant(next(_names))
    old, _, _ = api.call(store.rotate_key, key[:12], timedelta(hours=1))
    assert api.execute(key, "1").status_code == 200  # cached, with its end an hour on
    grant = store.cache.get(hash_key(key))
    assert grant is not None and grant.ends_at == old.revoked_at


def test_a_prefix_that_names_several_keys_is_refused(api, monkeypatch):
    store = api.executions.tenants
    tenant, _ = api.tenant(next(_names))
    made = iter(["trk_SAMEPREFIXa" + "a" * 30, "trk_SAMEPREFIXb" + "b" * 30])
    monkeypatch.setattr("runtime.tenancy.tenants.new_runtime_key", lambda: next(made))
    first = api.call(store.add_key, tenant.id, "one")
    api.call(store.add_key, tenant.id, "two")
    with pytest.raises(AmbiguousKey, match="give the key's id"):
        api.call(store.revoke_key, "trk_SAMEPREF")
    info, _ = api.call(store.revoke_key, first)  # the key itself names it
    assert info.label == "one"
    assert report(AmbiguousKey("x", "key")).status == 409


def test_last_used_is_recorded(api):
    store = api.executions.tenants
    tenant, key = api.tenant(next(_names))
    (before,) = api.call(store.keys, tenant.name)
    assert before.last_used_at is None
    assert api.execute(key, "1").status_code == 200
    (after,) = api.call(store.keys, tenant.name)
    assert after.last_used_at is not None and after.last_used_at >= before.created_at


def test_an_error_about_a_whole_key_shows_only_its_prefix(cli):
    assert cli("tenants", "create", "secretive", "--server-flora")[0] == 0
    whole = "trk_" + "s3cr3t" * 7
    code, out, err = cli("keys", "revoke", whole)
    assert code == 1 and "no key 'trk_s3cr3ts3'" in err
    assert "s3cr3ts3cr3t" not in out + err
