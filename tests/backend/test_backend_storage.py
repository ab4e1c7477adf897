"""Storage of the built-in backend: Alembic migrations applied at start (and reversible),
the development key kept across starts, keys stored hashed, key helpers usable offline."""

from __future__ import annotations

import sqlite3

import httpx
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from flora_backend import Backend, create_key, default_credentials
from flora_backend.db import VERSION_TABLE, alembic_config, create_engine, init_db
from flora_backend.settings import BackendSettings
from flora_backend.store import hash_key


def settings_for(tmp_path) -> BackendSettings:
    return BackendSettings(data_dir=tmp_path / "data", speed=0, database_url=None)


async def test_migrations_create_schema_and_downgrade(tmp_path):
    settings = settings_for(tmp_path)
    engine = create_engine(settings)
    try:
        await init_db(engine)
        await init_db(engine)  # idempotent
        async with engine.connect() as conn:
            query = text(f"select version_num from {VERSION_TABLE}")
            version = (await conn.execute(query)).scalar()
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        script = ScriptDirectory.from_config(alembic_config())
        assert len(script.get_heads()) == 1, script.get_heads()  # one history, one head
        head = script.get_current_head()
        assert version == head
        assert {"backend_runs", "backend_workspaces", "backend_api_keys", "backend_files"} <= tables

        def downgrade(connection):
            command.downgrade(alembic_config(connection), "base")

        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not {t for t in tables if t.startswith("backend_")}
    finally:
        await engine.dispose()
    assert (tmp_path / "data" / "terrarium.db").exists()


async def test_keys_are_stored_hashed(tmp_path):
    settings = settings_for(tmp_path)
    ws, key = await default_credentials(settings)
    extra = await create_key(ws, settings)
    assert extra != key and extra.startswith("sk_")
    db = sqlite3.connect(tmp_path / "data" / "terrarium.db")
    try:
        rows = db.execute("select key_hash, workspace_id from backend_api_keys").fetchall()
    finally:
        db.close()
    assert {h for h, _ in rows} == {hash_key(key), hash_key(extra)}
    dump = (tmp_path / "data" / "terrarium.db").read_bytes()
    assert key.encode() not in dump and extra.encode() not in dump


async def test_credentials_kept_across_starts_and_new_keys_work(tmp_path):
    settings = settings_for(tmp_path)
    first = await default_credentials(settings)
    assert first == await default_credentials(settings)
    key = await create_key(settings=settings)
    async with Backend(settings) as b:
        async with httpx.AsyncClient(
            transport=b.transport(),
            base_url="http://backend/api/v1/",
            headers={"authorization": f"Bearer {key}"},
        ) as raw:
            r = await raw.get("workspaces")
        assert r.json()["workspaces"][0]["workspace_id"] == first[0]
