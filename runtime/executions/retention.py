"""Retention: execution records (their code, stdout and result) are kept TERRARIUM_RETENTION_DAYS
days, then deleted, with the idempotency keys of the same age (0 keeps everything forever).

Whole rows are deleted rather than their code, stdout and result blanked: what a record holds
that an operator may not keep is most of the row (the intent, the calls' arguments, the error's
source lines quote the code too), the table stays bounded, and what outlives a record (counts,
durations, costs) is already in `/metrics` and the access log. A record still running, or whose
completion webhook is still pending, is never deleted.

    await prune(engine, cutoff(days=30))              # the records older than 30 days
    await prune(engine, cutoff(days=7), dry_run=True)  # how many there are, nothing deleted

Every replica runs `RetentionPrune` hourly (and once when it starts). Deletes go in batches of
`BATCH` rows, each its own short transaction, by an index on `created_at`. On PostgreSQL a
session advisory lock lets one replica prune at a time: the others skip that round.
`terrarium records prune` runs the same function.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from runtime.db import table_of, utcnow
from runtime.executions.idempotency import IdempotencyRow
from runtime.executions.records import FINAL_STATES, WEBHOOK_PENDING, ExecutionRow

log = logging.getLogger("terrarium.retention")

EXECUTIONS = table_of(ExecutionRow)
KEYS = table_of(IdempotencyRow)
BATCH = 1000
INTERVAL_S = 3600.0
JITTER = 0.1  # each round waits INTERVAL_S, give or take 10%, so replicas drift apart
LOCK_KEY = int.from_bytes(hashlib.sha256(b"terrarium retention prune").digest()[:8], signed=True)
_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([wdhms]?)\s*", re.IGNORECASE)
MAX_AGE = timedelta(days=36525)
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "": 86400}


def parse_age(value: str) -> timedelta:
    """`7d`, `12h`, `30m`, `90s`, `2w`, or a number of days, up to MAX_AGE; ValueError naming
    the forms (or the limit)."""
    match = _AGE.fullmatch(value)
    if match is None:
        raise ValueError(
            f"{value!r} is not an age: write a number and a unit, like 7d, 12h, 30m or 2w"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds > MAX_AGE.total_seconds():  # past it, the cutoff is before any date there is
        raise ValueError(f"{value!r} is too long an age: at most {MAX_AGE.days}d (100 years)")
    return timedelta(seconds=seconds)


def cutoff(days: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=days)


@dataclass(frozen=True)
class Pruned:
    cutoff: datetime
    executions: int
    idempotency_keys: int
    skipped: bool = False  # PostgreSQL: another replica was pruning

    def as_json(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "executions": self.executions,
            "idempotency_keys": self.idempotency_keys,
            "skipped": self.skipped,
        }


def _prunable(before: datetime) -> ColumnElement[bool]:
    return (
        (EXECUTIONS.c.created_at < before)
        & EXECUTIONS.c.state.in_(FINAL_STATES)
        & or_(EXECUTIONS.c.webhook_state.is_(None), EXECUTIONS.c.webhook_state != WEBHOOK_PENDING)
    )


async def prune(
    engine: AsyncEngine, before: datetime, *, dry_run: bool = False, batch: int = BATCH
) -> Pruned:
    """Delete the finished records created before `before` and the idempotency keys as old
    (with dry_run, only count them)."""
    async with engine.connect() as conn:
        if dry_run:
            executions = await conn.scalar(select(func.count()).where(_prunable(before)))
            keys = await conn.scalar(select(func.count()).where(KEYS.c.created_at < before))
            return Pruned(before, int(executions or 0), int(keys or 0))
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            locked = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
            await conn.commit()
            if not locked:
                return Pruned(before, 0, 0, skipped=True)
        try:
            executions = await _delete_batches(conn, before, batch)
            async with conn.begin():
                result: Any = await conn.execute(delete(KEYS).where(KEYS.c.created_at < before))
                keys = result.rowcount or 0
        finally:
            if postgres:
                with contextlib.suppress(Exception):
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                    await conn.commit()
    return Pruned(before, executions, keys)


async def _delete_batches(conn: AsyncConnection, before: datetime, batch: int) -> int:
    total = 0
    while True:
        ids = select(EXECUTIONS.c.id).where(_prunable(before)).limit(batch).scalar_subquery()
        async with conn.begin():
            result: Any = await conn.execute(delete(EXECUTIONS).where(EXECUTIONS.c.id.in_(ids)))
        count = result.rowcount or 0
        total += count
        if count < batch:
            return total


class RetentionPrune:
    """The server's prune: once when it starts, then about every INTERVAL_S."""

    def __init__(self, engine: AsyncEngine, days: float, interval_s: float = INTERVAL_S) -> None:
        self.engine = engine
        self.days = days
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.days > 0:
            self._task = asyncio.create_task(self._run(), name="terrarium-retention")

    async def run_once(self) -> Pruned:
        pruned = await prune(self.engine, cutoff(self.days))
        if pruned.executions or pruned.idempotency_keys:
            log.info("records pruned", extra=pruned.as_json())
        return pruned

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("pruning old records failed; trying again next round")
            await asyncio.sleep(self.interval_s * random.uniform(1 - JITTER, 1 + JITTER))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
