"""A database made before keys had ids, labels and expiry (at revision 0003) upgrades in place:
its keys keep working, labelled "default", never expiring (on PostgreSQL: test_keys_postgres)."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from runtime.db import alembic_config, create_engine, init_db, session_factory, utcnow
from runtime.settings import Settings
from runtime.tenancy.keyfiles import hash_key
from runtime.tenancy.tenants import TenantStore

OLD_KEY = "trk_" + "k" * 43


async def _upgrade_from_0003(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0003"))
            await conn.execute(
                text(
                    "insert into runtime_tenants (id, name, flora_kind, workspaces, created_at) "
                    "values ('ten_old', 'old', 'server', '[]', :now)"
                ),
                {"now": utcnow()},
            )
            await conn.execute(
                text(
                    "insert into runtime_keys (key_hash, tenant_id, hint, created_at) "
                    "values (:hash, 'ten_old', :hint, :now)"
                ),
                {"hash": hash_key(OLD_KEY), "hint": OLD_KEY[:10], "now": utcnow()},
            )
            versions = (await conn.execute(text("select version_num from alembic_version"))).all()
            assert [v[0] for v in versions] == ["0003"]
        await init_db(engine)  # as every start does: upgrade every head
        async with engine.connect() as conn:
            versions = {
                v[0] for v in (await conn.execute(text("select version_num from alembic_version")))
            }
        heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        assert versions == heads  # 0004_keys, or a merge revision after it

        store = TenantStore(settings, session_factory(engine))
        tenant = await store.verify(OLD_KEY)
        assert tenant.name == "old"
        (key,) = await store.keys("old")
        assert key.label == "default" and key.expires_at is None and key.revoked_at is None
        assert key.id.startswith("key_") and key.prefix == OLD_KEY[:10]
        assert key.state() == "active"
        _, new_key = await store.create_key("old", "ci")  # and new keys beside it
        assert (await store.verify(new_key)).id == tenant.id
        info, _ = await store.revoke_key(key.id)
        assert info.state() == "revoked"
    finally:
        await engine.dispose()


async def test_a_0003_database_upgrades_on_sqlite(tmp_path):
    await _upgrade_from_0003(Settings(data_dir=tmp_path, secret_key=None))
