"""Idempotency keys: the same key, per tenant, answers the same execution instead of running
again, so an agent that retries after a network error never pays twice.

A key is claimed by inserting `(tenant_id, key)` (the primary key) with the execution id it
starts: the database decides which request won, on SQLite as across PostgreSQL replicas. The
loser reads the winner's execution id and answers with that execution. A claim whose execution
was never admitted (refused, throttled) is released, so the retry can run.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from runtime.db import Base, UTCDateTime, utcnow
from runtime.errors import IdempotencyConflict
from runtime.executions.request import ExecutionRequest

MAX_KEY_CHARS = 200


class IdempotencyRow(Base):
    __tablename__ = "runtime_idempotency_keys"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("runtime_tenants.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_CHARS), primary_key=True)
    execution_id: Mapped[str] = mapped_column(String(40))
    request_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # retention prunes by it


def request_digest(request: ExecutionRequest) -> str:
    """What makes two requests the same one: the code and the inputs."""
    import json

    inputs = json.dumps(request.inputs, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(f"{request.code}\0{inputs}".encode()).hexdigest()


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: str,
    request: ExecutionRequest,
    execution_id: str,
) -> str | None:
    """Claim the request's key for `execution_id`: None when claimed, or the execution id that
    holds it already. The same key with other code or inputs is `IdempotencyConflict`."""
    key = request.idempotency_key
    assert key is not None
    digest = request_digest(request)
    row = IdempotencyRow(
        tenant_id=tenant_id, key=key, execution_id=execution_id, request_sha256=digest,
        created_at=utcnow(),
    )  # fmt: skip
    async with sessions() as s:
        s.add(row)
        try:
            await s.commit()
            return None
        except IntegrityError:
            await s.rollback()
        existing = (
            await s.execute(
                select(IdempotencyRow).where(
                    IdempotencyRow.tenant_id == tenant_id, IdempotencyRow.key == key
                )
            )
        ).scalar_one()
    if existing.request_sha256 != digest:
        raise IdempotencyConflict(
            f"Idempotency-Key {key[:80]!r} was used for execution {existing.execution_id} with "
            "other code or inputs; use a new key for a new script",
            "idempotency_key",
        )
    return existing.execution_id


async def release(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, key: str, execution_id: str
) -> None:
    """Free a key whose execution was never admitted."""
    async with sessions() as s:
        await s.execute(
            delete(IdempotencyRow).where(
                IdempotencyRow.tenant_id == tenant_id,
                IdempotencyRow.key == key,
                IdempotencyRow.execution_id == execution_id,
            )
        )
        await s.commit()
