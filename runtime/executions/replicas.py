"""This replica's row and heartbeat, and the reaping of executions whose replica is gone.

Each replica is a row in `runtime_instances` with a heartbeat. Executions owned by a replica
that stopped, whose heartbeat went stale, or that no row knows are failed, never left running;
a replica that stops fails its own unfinished executions.

A cancel asked of one replica for an execution another replica runs is recorded on its row
(`cancel_requested_at`) and, on PostgreSQL, announced with `NOTIFY terrarium_cancel`. Every
replica listens on that channel, and with each heartbeat also looks for cancel requests on the
executions it owns (a notification missed while its listening connection was down is not lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, text, update
from sqlalchemy.engine import URL
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

CANCEL_CHANNEL = "terrarium_cancel"
LISTEN_RETRY_S = 1.0  # how soon a dropped listening connection is opened again

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
        *,
        on_cancel: Callable[[str], None] = lambda _execution_id: None,
        listen_url: URL | None = None,
    ) -> None:
        """`on_cancel(execution_id)` is called when a cancel was requested, on another replica,
        for an execution this one owns (it may be called more than once for one execution).
        `listen_url` (PostgreSQL only) is where this replica LISTENs for those requests."""
        self.settings = settings
        self.sessions = sessions
        self.metrics = metrics
        self.instance_id = instance_id
        self.on_cancel = on_cancel
        self.listen_url = listen_url
        self._heartbeat: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while the listening connection is up
        self.listener_name = f"terrarium-cancel-{instance_id}"

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
        if self.listen_url is not None:
            self.start_listening()

    def start_listening(self) -> None:
        """LISTEN for cancel requests (PostgreSQL), on a connection of its own; its
        application_name is `terrarium-cancel-<instance id>`."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="terrarium-cancel-listener")

    async def stop_heartbeat(self) -> None:
        for task in (self._heartbeat, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # ------------------------------------------------------------------ cancel requests

    async def request_cancel(self, tenant_id: str, execution_id: str) -> str | None:
        """Record a cancel request on a queued or running execution of this tenant and tell
        the replicas (PostgreSQL). Returns the id of the replica that owns it, or None when it
        is no longer queued or running."""
        async with self.sessions() as s, s.begin():
            owner = await s.scalar(
                update(ExecutionRow)
                .where(
                    ExecutionRow.id == execution_id,
                    ExecutionRow.tenant_id == tenant_id,
                    ExecutionRow.state.in_(ACTIVE_STATES),
                )
                .values(cancel_requested_at=utcnow())
                .returning(ExecutionRow.instance_id)
                .execution_options(synchronize_session=False)
            )
            if owner is not None and self.listen_url is not None:  # PostgreSQL
                await s.execute(
                    text("SELECT pg_notify(:channel, :id)"),
                    {"channel": CANCEL_CHANNEL, "id": execution_id},
                )
        return owner

    async def poll_cancels(self) -> None:
        """Hand on the cancel requests recorded for the executions this replica owns."""
        async with self.sessions() as s:
            found = await s.scalars(
                select(ExecutionRow.id).where(
                    ExecutionRow.instance_id == self.instance_id,
                    ExecutionRow.state.in_(ACTIVE_STATES),
                    ExecutionRow.cancel_requested_at.is_not(None),
                )
            )
            ids = list(found)
        for execution_id in ids:
            self.on_cancel(execution_id)

    async def _listen(self) -> None:
        """LISTEN on the cancel channel on a connection of its own, opened again when it drops
        (then the recorded requests are read, in case one was announced meanwhile)."""
        import asyncpg  # type: ignore[import-untyped]  # PostgreSQL only

        assert self.listen_url is not None
        dsn = self.listen_url.set(drivername="postgresql").render_as_string(hide_password=False)

        def notified(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            self.on_cancel(payload)

        while True:
            connection = None
            try:
                connection = await asyncpg.connect(
                    dsn, server_settings={"application_name": self.listener_name}
                )
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await connection.add_listener(CANCEL_CHANNEL, notified)
                self.listening.set()
                await self.poll_cancels()
                await lost.wait()
                log.warning("cancel listener lost its connection; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cancel listener failed", extra={"instance_id": self.instance_id})
            finally:
                self.listening.clear()
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            await asyncio.sleep(LISTEN_RETRY_S)

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
                await self.poll_cancels()
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
