"""Keys on PostgreSQL, on one throwaway server: a database at revision 0003 upgrades in place,
and a replica with an empty data dir on a shared database makes no second default key."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from test_keys_default import _replicas_mint_one_default_key
from test_keys_upgrade import _upgrade_from_0003
from test_replicas_postgres import database_url  # noqa: F401  (module fixture)

from runtime.settings import Settings

pytestmark = [pytest.mark.postgres]


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
