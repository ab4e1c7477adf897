"""The operator key: the bearer key of the admin API (`/v1/admin/...`), distinct from every
tenant's runtime keys.

`TERRARIUM_OPERATOR_KEY` when set (then it is the only one; replicas set the same value).
Otherwise the first server to start on a database makes one, keeps it in
`<data_dir>/operator-key` (0600), records its hash in `runtime_operator_keys` and prints it once;
a later server on the same database (another replica, an emptied data dir) makes no other, and
says where the key is instead.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from pathlib import Path

from sqlalchemy import String, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db import Base, UTCDateTime, utcnow
from runtime.settings import Settings
from runtime.tenancy.keyfiles import hash_key, read_private, write_private

OPERATOR_KEY_PREFIX = "tro_"
OPERATOR_KEY_FILE = "operator-key"
_LOCK = 0x7472_6F5F  # the advisory lock that serializes making the operator key ("tro_")


class OperatorKeyRow(Base):
    __tablename__ = "runtime_operator_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OperatorKeys:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.file = Path(settings.data_dir) / OPERATOR_KEY_FILE
        self.minted: str | None = None  # the key made by this start, printed once

    @property
    def from_environment(self) -> bool:
        return bool(self.settings.operator_key)

    async def ensure(self) -> None:
        """Make the operator key if no server on this database has one (and none is set)."""
        if self.from_environment:
            return
        saved = read_private(self.file)
        if saved is not None and await self._stored(saved):
            return
        key = OPERATOR_KEY_PREFIX + secrets.token_urlsafe(32)
        async with self.sessions() as s, s.begin():
            # Replicas starting at once on PostgreSQL make one key between them.
            if (await s.connection()).dialect.name == "postgresql":
                await s.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _LOCK})
            exists = (
                await s.execute(
                    select(OperatorKeyRow.key_hash).where(OperatorKeyRow.revoked_at.is_(None))
                )
            ).first()
            if exists is not None:
                return
            s.add(OperatorKeyRow(key_hash=hash_key(key), hint=key[:12], created_at=utcnow()))
        write_private(self.file, key)
        self.minted = key

    async def _stored(self, key: str) -> bool:
        async with self.sessions() as s:
            row = await s.get(OperatorKeyRow, hash_key(key))
        return row is not None and row.revoked_at is None

    async def matches(self, key: str) -> bool:
        """Whether `key` is the operator key."""
        if self.from_environment:
            expected = str(self.settings.operator_key)
            return hmac.compare_digest(key.encode(), expected.encode())
        if not key.startswith(OPERATOR_KEY_PREFIX):
            return False
        return await self._stored(key)

    def where(self) -> str:
        """Where an operator finds the key, in words (never the key)."""
        if self.from_environment:
            return "TERRARIUM_OPERATOR_KEY"
        if read_private(self.file) is not None:
            return str(self.file)
        return (
            f"not in this data directory: another server on this database made it (its "
            f"{OPERATOR_KEY_FILE} file), or set TERRARIUM_OPERATOR_KEY on every server"
        )
