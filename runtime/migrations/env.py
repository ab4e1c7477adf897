"""Alembic environment for the runtime's tables: runs on a connection handed over by
`runtime.db.init_db`, or on its own async engine built from Settings (alembic CLI). The built-in
backend's tables have their own history (`flora_backend/migrations`)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

import runtime.executions.records  # noqa: F401  (the runtime's tables)
import runtime.tenancy.tenants  # noqa: F401
from runtime.db import Base, create_engine
from runtime.settings import Settings

target_metadata = Base.metadata


# The backend's revision in the single history the runtime and the backend once shared; it is
# not in the runtime's history, which starts at 0002.
FORMER_BACKEND_REVISION = "0001"


def _forget_former_backend_revision(connection: Connection) -> None:
    """A database the single history left at 0001 holds the backend's tables and none of the
    runtime's: for the runtime's history it is at its base."""
    if inspect(connection).has_table("alembic_version"):
        connection.execute(
            text("DELETE FROM alembic_version WHERE version_num = :revision"),
            {"revision": FORMER_BACKEND_REVISION},
        )


def _run(connection: Connection) -> None:
    _forget_former_backend_revision(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(Settings())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=Settings().database_url_or_default(),
        target_metadata=target_metadata,
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
