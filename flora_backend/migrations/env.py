"""Alembic environment for the built-in backend's tables: its own history, recorded in its own
version table, so it migrates independently of anything else in the same database. Runs on a
connection handed over by `flora_backend.db.init_db`, or on its own async engine built from
BackendSettings (alembic CLI)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import flora_backend.store  # noqa: F401  (registers the backend's tables on Base.metadata)
from flora_backend.db import VERSION_TABLE, Base, create_engine
from flora_backend.settings import BackendSettings

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(BackendSettings())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=BackendSettings().database_url_or_default(),
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
