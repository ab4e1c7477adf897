"""The backend's database: its declarative `Base`, an async engine and session factory built from
`BackendSettings`, and `init_db`, which applies the backend's own Alembic migrations.

The backend's migration history is its own (`flora_backend/migrations`, version table
`flora_backend_alembic_version`), independent of whatever else shares the database. SQLite
(`<data_dir>/terrarium.db`, via aiosqlite through the driver in `sqlite.py`) by default,
PostgreSQL (asyncpg) when `DATABASE_URL` says so; the same code runs on both.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from alembic.config import Config
from sqlalchemy import DateTime, Dialect, MetaData, Table, event, inspect, text
from sqlalchemy.engine import Connection, CursorResult, Result
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from flora_backend import sqlite
from flora_backend.settings import BackendSettings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "flora_backend_alembic_version"
# The revision whose schema the runtime's former single history (revision 0001 there) created.
INITIAL_REVISION = "backend_0001"
# On PostgreSQL, replicas that start at once migrate one at a time under this advisory lock
# (a transaction-level lock: released when the migrating transaction ends, even by a crash).
MIGRATION_LOCK = int.from_bytes(
    hashlib.sha256(b"flora_backend migrations").digest()[:8], signed=True
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        # SQLite keeps text; a naive UTC value sorts and compares correctly there.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# A pooled connection idle longer than this is pinged before use (a database restart or a
# proxy's idle timeout leaves it dead); one in steady use is not, which spares every checkout a
# round trip.
IDLE_PING_S = 10.0


def create_engine(settings: BackendSettings) -> AsyncEngine:
    url = settings.database_url_or_default()
    if url.startswith("sqlite"):
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        engine = _create_async_engine(sqlite.one_hop_url(url), connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL: no fsync per commit, still never corrupt on a crash.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine = _create_async_engine(url)
    _ping_idle_connections(engine, IDLE_PING_S)
    return engine


def _ping_idle_connections(engine: AsyncEngine, idle_s: float) -> None:
    """Pre-ping, only for connections that sat in the pool more than `idle_s` seconds."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= idle_s:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception:
            alive = False
        if not alive:
            record.info.pop("idle_since", None)
            raise DisconnectionError("a pooled connection did not answer a ping")


def rows_matched(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE or DELETE matched. `Session.execute` is typed to answer a
    `Result` for any statement; for these it is a `CursorResult`, which has the row count."""
    return cast("CursorResult[*tuple[Any, ...]]", result).rowcount


async def insert_unless_present(
    session: AsyncSession, model: type[Base], values: dict[str, Any]
) -> bool | None:
    """Insert a row unless one with its primary key exists, in one statement ("on conflict do
    nothing"): True when inserted, False when the key was taken; None where the database has
    no such statement (the caller then reads and writes instead)."""
    dialect = session.get_bind().dialect.name
    stmt = _insert_unless_present.get((dialect, model))
    if stmt is None:
        table = cast("Table", model.__table__)  # plain Core: the ORM's bulk insert is heavier
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table).on_conflict_do_nothing()
        elif dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(table).on_conflict_do_nothing()
        else:
            return None
        _insert_unless_present[(dialect, model)] = stmt
    # The values bound, not built into the statement: its compiled form is found in the cache.
    return rows_matched(await session.execute(stmt, values)) == 1


# The statement of `insert_unless_present` by dialect name and model, made once.
_insert_unless_present: dict[tuple[str, type[Base]], Any] = {}


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def lock_migrations(connection: Connection) -> None:
    """Wait for any other process migrating this PostgreSQL database, and keep it waiting until
    this transaction ends; the next one then finds the schema current. Nothing on SQLite, whose
    writers are already serialized by the database file's lock."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


async def hold_migration_lock(session: AsyncSession) -> None:
    """Take the migrations' lock for the rest of this session's transaction (PostgreSQL), so
    what a start makes once (the seed data) is made once when replicas start together."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def _upgrade(connection: Connection) -> None:
    from alembic import command

    lock_migrations(connection)
    config = alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE not in tables and "backend_workspaces" in tables:
        # Tables made when the backend's migrations were part of the runtime's one history:
        # they are this history's first revision, so record that instead of creating them again.
        command.stamp(config, INITIAL_REVISION)
    # The history has one head (branches are joined by a merge revision); "heads" applies
    # every head all the same, so a branch added before its merge still gets its tables.
    command.upgrade(config, "heads")


async def init_db(engine: AsyncEngine) -> None:
    """Bring the backend's tables to its newest migration (idempotent; safe on every start, and
    from several replicas starting at once)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
