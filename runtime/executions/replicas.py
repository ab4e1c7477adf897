"""This replica's row and heartbeat, and the reaping of executions whose replica is gone.

Each replica is a row in `runtime_instances` with a heartbeat. Executions owned by a replica
that stopped, whose heartbeat went stale, or that no row knows are failed, never left running;
a replica that stops fails its own unfinished executions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.db import utcnow
from runtime.executions.records import (
    ACTIVE_STATES,
    FAILED,
    SERVER_STOPPED,
    ExecutionRow,
    InstanceRow,
)
from runtime.infra.metrics import Metrics
from runtime.settings import Settings

log = logging.getLogger("terrarium.executions")

STOPPED_ERROR = {
    "type": "ServerStopped",
    "message": f"{SERVER_STOPPED} before the execution finished",
    "line": None,
    "source": None,
    "traceback": None,
    "hint": "submit it again; if it made client calls, check what they created first",
}


class Replica:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        metrics: Metrics,
        instance_id: str,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.metrics = metrics
        self.instance_id = instance_id
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        now = utcnow()
        async with self.sessions() as s, s.begin():
            s.add(
                InstanceRow(
                    id=self.instance_id,
                    host=socket.gethostname()[:200],
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        await self.reap()
        self._heartbeat = asyncio.create_task(self._beat(), name="terrarium-heartbeat")

    async def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat

    async def retire(self) -> None:
        """Fail this replica's unfinished executions and mark it stopped (after its records
        are written, so none of them is failed by mistake)."""
        with contextlib.suppress(Exception):
            now = utcnow()
            async with self.sessions() as s, s.begin():
                await _fail_where(s, ExecutionRow.instance_id == self.instance_id, now)
                await s.execute(
                    update(InstanceRow)
                    .where(InstanceRow.id == self.instance_id)
                    .values(stopped_at=now)
                )

    async def reap(self) -> int:
        """Fail executions owned by replicas that stopped, or whose heartbeat went stale."""
        now = utcnow()
        stale = now - timedelta(seconds=self.settings.instance_stale_s)
        dead = select(InstanceRow.id).where(
            or_(InstanceRow.heartbeat_at < stale, InstanceRow.stopped_at.is_not(None))
        )
        known = select(InstanceRow.id)
        async with self.sessions() as s, s.begin():
            count = await _fail_where(
                s,
                (ExecutionRow.instance_id != self.instance_id)
                & (ExecutionRow.instance_id.in_(dead) | ExecutionRow.instance_id.not_in(known)),
                now,
            )
        if count:
            self.metrics.executions.labels(status="failed").inc(count)
            log.warning("failed executions of stopped replicas", extra={"count": count})
        return count

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            try:
                async with self.sessions() as s, s.begin():
                    await s.execute(
                        update(InstanceRow)
                        .where(InstanceRow.id == self.instance_id)
                        .values(heartbeat_at=utcnow())
                    )
                await self.reap()
            except Exception:
                log.exception("heartbeat failed", extra={"instance_id": self.instance_id})


async def _fail_where(s: AsyncSession, condition: ColumnElement[bool], now: datetime) -> int:
    result: Any = await s.execute(
        update(ExecutionRow)
        .where(ExecutionRow.state.in_(ACTIVE_STATES), condition)
        .values(state=FAILED, status="error", error=STOPPED_ERROR, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
