"""The backend's tables migrate in their own history, beside the runtime's: a fresh database
gets both, and a database made when the two shared one history (at its head, 0002, or at the
backend's 0001 alone) upgrades in place, keeping its rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from flora_backend import Backend
from flora_backend import db as backend_db
from flora_backend.settings import BackendSettings
from runtime import db as runtime_db
from runtime.settings import Settings

RUNTIME_TABLES = {"runtime_tenants", "runtime_keys", "runtime_executions", "runtime_instances"}
BACKEND_TABLES = {"backend_workspaces", "backend_api_keys", "backend_runs", "backend_files"}
BACKEND_HEADS = sorted(ScriptDirectory.from_config(backend_db.alembic_config()).get_heads())


async def _versions(engine: AsyncEngine) -> dict[str, list[str]]:
    async with engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        found = {}
        for table in ("alembic_version", backend_db.VERSION_TABLE):
            if table in tables:
                rows = await conn.execute(text(f"select version_num from {table}"))
                found[table] = sorted(r[0] for r in rows)
        return found


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def single_history_database(settings: Settings, *, at: str) -> None:
    """The database the former single history left, with one workspace in it: the backend's
    tables (its 0001) and, at 0002, the runtime's, with one `alembic_version` row and no
    backend version table."""
    engine = runtime_db.create_engine(settings)
    try:

        def former_0001(connection: Connection) -> None:  # the same body as the former 0001
            command.upgrade(backend_db.alembic_config(connection), backend_db.INITIAL_REVISION)

        async with engine.begin() as conn:
            await conn.run_sync(former_0001)
            await conn.execute(text(f"drop table {backend_db.VERSION_TABLE}"))
            await conn.execute(
                text(
                    "insert into backend_workspaces (id, name, credits, webhook_secret, "
                    "is_default, created_at) values ('ws_kept', 'Kept', 7, 'whsec_x', false, "
                    ":now)"
                ),
                {"now": backend_db.utcnow()},
            )
            if at == "0001":
                await conn.execute(
                    text("create table alembic_version (version_num varchar(32) primary key)")
                )
                await conn.execute(text("insert into alembic_version values ('0001')"))
        if at == "0002":
            await runtime_db.init_db(engine)  # the same body as the former 0002
        assert await _versions(engine) == {"alembic_version": [at]}
    finally:
        await engine.dispose()


async def upgrade_with_new_code(settings: Settings) -> tuple[str, str]:
    """What a server start does: the runtime's migrations, then the backend's (via Backend)."""
    engine = runtime_db.create_engine(settings)
    try:
        await runtime_db.init_db(engine)
    finally:
        await engine.dispose()
    async with Backend(settings) as backend:
        return await backend.default_credentials()


async def check_upgrade(settings: Settings, at: str) -> None:
    await single_history_database(settings, at=at)
    await upgrade_with_new_code(settings)
    async with Backend(settings) as backend:
        assert await backend.credits("ws_kept") == 7  # the rows are kept
    engine = runtime_db.create_engine(settings)
    try:
        assert RUNTIME_TABLES | BACKEND_TABLES <= await _tables(engine)
        assert await _versions(engine) == {
            "alembic_version": ["0002"],
            backend_db.VERSION_TABLE: BACKEND_HEADS,
        }
    finally:
        await engine.dispose()
    await upgrade_with_new_code(settings)  # and again: nothing left to do


def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=None, backend_speed=0)


async def test_a_fresh_database_gets_both_histories(tmp_path):
    settings = sqlite_settings(tmp_path)
    await upgrade_with_new_code(settings)
    engine = runtime_db.create_engine(settings)
    try:
        assert RUNTIME_TABLES | BACKEND_TABLES <= await _tables(engine)
        assert await _versions(engine) == {
            "alembic_version": ["0002"],
            backend_db.VERSION_TABLE: BACKEND_HEADS,
        }
    finally:
        await engine.dispose()


async def test_the_backend_migrates_alone_without_the_runtimes_tables(tmp_path):
    settings = BackendSettings(data_dir=tmp_path / "data", database_url=None, speed=0)
    async with Backend(settings) as b:
        await b.default_credentials()
    engine = backend_db.create_engine(settings)
    try:
        tables = await _tables(engine)
        assert BACKEND_TABLES <= tables and not RUNTIME_TABLES & tables
        assert "alembic_version" not in tables
    finally:
        await engine.dispose()


@pytest.mark.parametrize("at", ["0002", "0001"])
async def test_a_single_history_sqlite_database_upgrades_in_place(tmp_path, at):
    await check_upgrade(sqlite_settings(tmp_path), at)


@pytest.fixture
async def pg_database(pg_url):
    """A new, empty database on the throwaway server, for one test."""
    name = "legacy_" + uuid.uuid4().hex[:12]
    admin = create_async_engine(
        pg_url.replace("postgresql://", "postgresql+asyncpg://"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"create database {name}"))
        yield pg_url.rsplit("/", 1)[0] + "/" + name
        async with admin.connect() as conn:
            await conn.execute(text(f"drop database {name} with (force)"))
    finally:
        await admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("at", ["0002", "0001"])
async def test_a_single_history_postgres_database_upgrades_in_place(tmp_path, pg_database, at):
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_database, backend_speed=0)
    await check_upgrade(settings, at)


BRANCH = """
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "backend_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("{table}", sa.Column("id", sa.String(length=40), primary_key=True))


def downgrade() -> None:
    op.drop_table("{table}")
"""


async def test_every_head_of_a_branched_history_applies(tmp_path, monkeypatch):
    """Two revisions on top of the same parent (two heads): init_db applies both."""
    migrations = tmp_path / "migrations"
    shutil.copytree(
        backend_db.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__")
    )
    for rev in ("branch_one", "branch_two"):
        (migrations / "versions" / f"{rev}.py").write_text(
            BRANCH.format(rev=rev, table=f"backend_{rev}")
        )
    monkeypatch.setattr(backend_db, "MIGRATIONS_DIR", migrations)
    heads = ScriptDirectory.from_config(backend_db.alembic_config()).get_heads()
    assert {"branch_one", "branch_two"} <= set(heads)
    settings = BackendSettings(data_dir=tmp_path / "data", database_url=None, speed=0)
    engine = backend_db.create_engine(settings)
    try:
        await backend_db.init_db(engine)
        await backend_db.init_db(engine)  # and again: nothing left to do
        assert {"backend_branch_one", "backend_branch_two"} <= await _tables(engine)
        assert await _versions(engine) == {backend_db.VERSION_TABLE: sorted(heads)}
    finally:
        await engine.dispose()
