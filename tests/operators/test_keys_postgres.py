"""Keys on PostgreSQL, on one throwaway server: a database at revision 0003 upgrades in place,
a replica with an empty data dir on a shared database makes no second default key, and replicas
starting at once make one operator key between them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from test_keys_default import _replicas_mint_one_default_key
from test_keys_upgrade import _upgrade_from_0003
from test_replicas_postgres import database_url  # noqa: F401  (module fixture)

from runtime.db import create_engine, init_db, session_factory
from runtime.settings import Settings
from runtime.tenancy.operator import _LOCK, OperatorKeys

pytestmark = [pytest.mark.postgres]

WAITING_FOR_ADVISORY_LOCKS = text(
    "select count(*) from pg_locks where locktype = 'advisory' and not granted"
)


async def _fresh_database(server_url: str) -> str:
    """An empty database on the server: its URL."""
    name = "keys_" + uuid.uuid4().hex[:8]
    admin = create_async_engine(
        server_url.replace("postgresql://", "postgresql+asyncpg://"),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"create database {name}"))
    finally:
        await admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


async def test_a_0003_database_upgrades_on_postgresql(database_url, tmp_path: Path):  # noqa: F811
    url = await _fresh_database(database_url)
    await _upgrade_from_0003(Settings(data_dir=tmp_path, secret_key=None, database_url=url))


async def test_a_replica_with_an_empty_data_dir_mints_no_key_on_postgresql(
    database_url,  # noqa: F811
    tmp_path: Path,
):
    await _replicas_mint_one_default_key(await _fresh_database(database_url), tmp_path)


async def test_replicas_starting_at_once_make_one_operator_key(
    database_url,  # noqa: F811
    tmp_path: Path,
):
    """Each start makes the operator key under one advisory lock: while it is held elsewhere
    both starts wait, and once it is released one makes the key and the other sees it."""
    url = await _fresh_database(database_url)
    settings = [
        Settings(data_dir=tmp_path / name, secret_key=None, database_url=url) for name in "ab"
    ]
    engines = [create_engine(s) for s in settings]
    holder = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        await init_db(engines[0])
        operators = [
            OperatorKeys(s, session_factory(e)) for s, e in zip(settings, engines, strict=True)
        ]
        async with holder.connect() as conn:
            await conn.execute(text("select pg_advisory_lock(:lock)"), {"lock": _LOCK})
            await conn.commit()
            starts = [asyncio.create_task(operator.ensure()) for operator in operators]
            waiting = 0
            while waiting < 2:
                assert not any(t.done() for t in starts), "a start did not wait for the lock"
                await asyncio.sleep(0.02)
                waiting = await conn.scalar(WAITING_FOR_ADVISORY_LOCKS)
            await conn.execute(text("select pg_advisory_unlock(:lock)"), {"lock": _LOCK})
            await conn.commit()
        await asyncio.gather(*starts)
        assert sum(operator.minted is not None for operator in operators) == 1
        made = [o for o in operators if o.minted][0]
        assert all([await o.matches(str(made.minted)) for o in operators])
    finally:
        await holder.dispose()
        for engine in engines:
            await engine.dispose()
