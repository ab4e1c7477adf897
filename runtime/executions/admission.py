"""Admission: whether a tenant may start one more execution now (its concurrency and its
executions per minute), and recording the new execution's row when it may.

Two ways, one per kind of deployment:

- `DatabaseAdmission` (PostgreSQL, several replicas share the database): one transaction that
  updates the tenant's row (a row lock serializing the tenant's admissions across replicas),
  counts its running executions and its executions of the last minute, and inserts the row.
- `LocalAdmission` (SQLite, which serves one server process): the counts are kept in memory,
  and the row goes to the background `RecordWriter`, so admission never waits for the database.
  It starts from the database's executions of the last minute, so a restart does not reset the
  per-minute count.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from runtime.db import table_of
from runtime.errors import RateLimited, TooManyRunning
from runtime.executions.record_writer import RecordWriter
from runtime.executions.records import ACTIVE_STATES, ExecutionRow
from runtime.infra.metrics import Metrics
from runtime.tenancy.tenants import Tenant, TenantRow

WINDOW_S = 60.0
EXECUTIONS = table_of(ExecutionRow)
TENANTS = table_of(TenantRow)


def too_many(metrics: Metrics, tenant: Tenant, active: int) -> TooManyRunning:
    metrics.rejected.labels(reason="concurrency").inc()
    return TooManyRunning(
        f"this key already has {active} executions running, its limit is "
        f"{tenant.max_concurrent}; retry when one finishes",
        1,
    )


def too_fast(metrics: Metrics, tenant: Tenant, recent: int, wait_s: float) -> RateLimited:
    metrics.rejected.labels(reason="rate").inc()
    return RateLimited(
        f"this key started {recent} executions in the last minute, its limit is "
        f"{tenant.per_minute}",
        wait_s,
    )


class Admission(Protocol):
    async def admit(self, tenant: Tenant, row: dict[str, Any]) -> None:
        """Record `row` (a new execution of `tenant`, every column) or raise `Throttled`."""

    def release(self, tenant_id: str, execution_id: str) -> None:
        """The execution finished (or failed): it no longer counts as running."""


class DatabaseAdmission:
    def __init__(self, engine: AsyncEngine, metrics: Metrics) -> None:
        self.engine = engine
        self.metrics = metrics

    async def admit(self, tenant: Tenant, row: dict[str, Any]) -> None:
        now: datetime = row["created_at"]
        window = now - timedelta(seconds=WINDOW_S)
        running = EXECUTIONS.c.state.in_(ACTIVE_STATES)
        recent = EXECUTIONS.c.created_at >= window
        async with self.engine.begin() as conn:
            # The row lock that serializes this tenant's admissions across replicas. The counts
            # are a later statement, so they see every admission committed before the lock.
            await conn.execute(
                update(TENANTS).where(TENANTS.c.id == tenant.id).values(admitted_at=now)
            )
            active, started, oldest = (
                await conn.execute(
                    select(
                        func.count().filter(running),
                        func.count().filter(recent),
                        func.min(EXECUTIONS.c.created_at).filter(recent),
                    ).where(EXECUTIONS.c.tenant_id == tenant.id, or_(running, recent))
                )
            ).one()
            if active >= tenant.max_concurrent:
                raise too_many(self.metrics, tenant, active)
            if started >= tenant.per_minute:
                wait = WINDOW_S - (now - oldest).total_seconds() if oldest else 1
                raise too_fast(self.metrics, tenant, started, wait)
            await conn.execute(insert(EXECUTIONS), [row])

    def release(self, tenant_id: str, execution_id: str) -> None:
        pass  # the row's state is what counts


class LocalAdmission:
    def __init__(self, writer: RecordWriter, metrics: Metrics) -> None:
        self.writer = writer
        self.metrics = metrics
        self._running: dict[str, set[str]] = {}  # tenant id -> its running execution ids
        self._started: dict[str, deque[float]] = {}  # tenant id -> start times, oldest first
        self._next_sweep = time.time() + WINDOW_S

    async def seed(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
        """Count the executions the database has from the last minute (before a restart)."""
        since = now - timedelta(seconds=WINDOW_S)
        async with sessions() as s:
            rows = await s.execute(
                select(ExecutionRow.tenant_id, ExecutionRow.created_at)
                .where(ExecutionRow.created_at >= since)
                .order_by(ExecutionRow.created_at)
            )
            for tenant_id, created_at in rows:
                self._started.setdefault(tenant_id, deque()).append(created_at.timestamp())

    async def admit(self, tenant: Tenant, row: dict[str, Any]) -> None:
        running = self._running.get(tenant.id)
        if running is not None and len(running) >= tenant.max_concurrent:
            raise too_many(self.metrics, tenant, len(running))
        now = row["created_at"].timestamp()
        started = self._started.get(tenant.id)
        if started is not None:
            while started and started[0] < now - WINDOW_S:
                started.popleft()
            if len(started) >= tenant.per_minute:
                raise too_fast(self.metrics, tenant, len(started), WINDOW_S - (now - started[0]))
        else:
            started = self._started[tenant.id] = deque()
        started.append(now)
        self._running.setdefault(tenant.id, set()).add(row["id"])
        self.writer.insert(row)

    def release(self, tenant_id: str, execution_id: str) -> None:
        running = self._running.get(tenant_id)
        if running is not None:
            running.discard(execution_id)
            if not running:
                del self._running[tenant_id]
        now = time.time()
        if now >= self._next_sweep:  # once a minute, forget tenants idle for a whole window
            self._next_sweep = now + WINDOW_S
            horizon = now - WINDOW_S
            for idle in [t for t, q in self._started.items() if not q or q[-1] < horizon]:
                del self._started[idle]
