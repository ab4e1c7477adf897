"""The key cache: a key that worked is trusted for `key_cache_s`; keys made or revoked by another
process (the `terrarium tenants` command, another replica) are seen at once, or within it."""

from __future__ import annotations

import itertools
import time

from runtime.db import create_engine, session_factory
from runtime.tenancy.keycache import KeyCache
from runtime.tenancy.tenants import TenantStore

_names = (f"cache-{i}" for i in itertools.count())


def another_process(api, work):  # type: ignore[no-untyped-def]
    """Run `work(store)` on a TenantStore with its own engine, as `terrarium tenants` would."""

    async def go():  # type: ignore[no-untyped-def]
        engine = create_engine(api.executions.settings)
        try:
            return await work(TenantStore(api.executions.settings, session_factory(engine)))
        finally:
            await engine.dispose()

    return api.call(go)


def test_a_key_made_by_another_process_works_at_once(api_with):
    with api_with(key_cache_s=1.0) as cached:
        assert cached.execute("trk_made-later", "1").status_code == 401

        async def make(store):  # type: ignore[no-untyped-def]
            return await store.create(next(_names), flora_kind="server")

        _, key = another_process(cached, make)
        assert cached.execute(key, "1").status_code == 200


def test_a_key_revoked_by_another_process_stops_working_within_the_ttl(api_with):
    with api_with(key_cache_s=1.0) as cached:
        tenant, key = cached.tenant(next(_names))
        assert cached.execute(key, "1").status_code == 200
        assert another_process(cached, lambda store: store.revoke(tenant.id)) is True
        revoked_at = time.monotonic()
        assert cached.execute(key, "1").status_code == 200  # still trusted from the cache
        deadline = revoked_at + 1.0 + 0.5
        while cached.execute(key, "1").status_code == 200:
            assert time.monotonic() < deadline, "the revoked key still works past key_cache_s"
            time.sleep(0.1)
        assert cached.execute(key, "1").status_code == 401


def test_a_revocation_in_this_process_is_immediate(api_with):
    with api_with(key_cache_s=1.0) as cached:
        tenant, key = cached.tenant(next(_names))
        assert cached.execute(key, "1").status_code == 200
        assert cached.call(cached.executions.tenants.revoke, tenant.name) is True
        assert cached.execute(key, "1").status_code == 401


def test_with_the_cache_off_another_process_revocation_is_immediate(api_with):
    with api_with(key_cache_s=0) as api:
        tenant, key = api.tenant(next(_names))
        assert api.execute(key, "1").status_code == 200
        assert another_process(api, lambda store: store.revoke(tenant.id)) is True
        assert api.execute(key, "1").status_code == 401


def test_the_cache_expires_forgets_by_tenant_and_ignores_lookups_older_than_a_revocation():
    cache: KeyCache[str] = KeyCache(ttl_s=0.05)
    cache.put("h1", "ten_a", "a", cache.generation)
    cache.put("h2", "ten_b", "b", cache.generation)
    assert cache.get("h1") == "a" and cache.get("h2") == "b"
    stale = cache.generation
    cache.forget("ten_a")
    assert cache.get("h1") is None and cache.get("h2") == "b"
    cache.put("h1", "ten_a", "a", stale)  # looked up before the revocation: not kept
    assert cache.get("h1") is None
    time.sleep(0.06)
    assert cache.get("h2") is None
    off: KeyCache[str] = KeyCache(ttl_s=0)
    off.put("h", "t", "v", off.generation)
    assert off.get("h") is None
